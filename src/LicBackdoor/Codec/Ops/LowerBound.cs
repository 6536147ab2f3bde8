using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Ops;

/// <summary>
/// <c>max(x, bound)</c> with CompressAI's gradient rule: the gradient passes where <c>x &gt;= bound</c>
/// or where it is negative (so a value stuck below the bound can still be pushed up), and is zero
/// elsewhere. Registered with a persistent buffer <c>bound</c> so checkpoint keys match CompressAI's
/// (<c>…lower_bound.bound</c>).
/// </summary>
public sealed class LowerBound : nn.Module<Tensor, Tensor>
{
    private readonly Tensor bound;

    public LowerBound(double boundValue) : base(nameof(LowerBound))
    {
        bound = torch.tensor(new[] { (float)boundValue });
        register_buffer("bound", bound);
    }

    /// <summary>The bound as a one-element tensor (a buffer).</summary>
    public Tensor Bound => bound;

    public override Tensor forward(Tensor x) => Apply(x, bound);

    /// <summary>Applies the bounded max with the custom gradient rule.</summary>
    public static Tensor Apply(Tensor x, Tensor bound)
    {
        if (!x.requires_grad || !torch.is_grad_enabled())
            return torch.maximum(x, bound.to_type(x.dtype));
        return LowerBoundFunction.apply(x, bound);
    }
}

/// <summary>Autograd function behind <see cref="LowerBound"/>.</summary>
internal sealed class LowerBoundFunction : autograd.SingleTensorFunction<LowerBoundFunction>
{
    public override string Name => "LowerBound";

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var bound = ((Tensor)vars[1]).to_type(x.dtype);
        ctx.save_for_backward(new List<Tensor> { x, bound });
        return torch.maximum(x, bound);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var x = saved[0];
        var bound = saved[1];
        var passThrough = x.ge(bound).logical_or(gradOutput.lt(0));
        return new List<Tensor> { gradOutput * passThrough.to_type(gradOutput.dtype), torch.zeros_like(bound) };
    }
}
