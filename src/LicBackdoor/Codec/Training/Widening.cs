using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Layers;
using LicBackdoor.Codec.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Training;

/// <summary>
/// Function-preserving widening of a trained codec to more channels N (Net2Net-style, not in CompressAI's recipe): a model
/// with N = 128 starts where a trained N = 64 model of the same architecture and latent width M stands, and training
/// then only has to learn to use the extra channels instead of starting from scratch.
/// <para>
/// Every tensor of the wide model keeps its fresh initialisation outside the leading block that the narrow model's
/// tensor fills. For each convolution the block from the new input channels to the old output channels is set to zero,
/// so the old channels compute exactly what they computed before; a new channel's own incoming weights stay random (it
/// carries a signal that the next layer's zero weights ignore, until training gives them weight). GDN's γ is stored
/// reparametrised with its fresh off-diagonal entries at zero, so the old channels' normalisation sees nothing of the
/// new ones. Pixel-shuffle (sub-pixel) convolutions keep this property since channel c's sub-pixels are rows 4c-4c+3.
/// </para>
/// <para>
/// Exact for the decoded image and the latent's likelihoods (tested). The hyper-latent z gains N_wide − N_narrow channels;
/// they start constant, at the median of the narrow model's narrowest density, which they copy, so they cost about what
/// that (in a trained model nearly unused) channel costs. The CDF tables are rebuilt
/// (<see cref="CompressionModel.Update"/>; the Gaussian conditional's from the narrow model's scale table). Only N may
/// grow: M is concatenated (means and scales, context and hyper parameters) and is refused.
/// </para>
/// </summary>
public static class Widening
{
    /// <summary>The key of the analysis transform's last convolution, whose output count is M in both architectures.</summary>
    private const string LatentConvKey = "g_a.6.weight";

    /// <summary>
    /// Copies <paramref name="narrow"/>'s weights into <paramref name="wide"/> (same architecture and M, every dimension at
    /// least as large) so that <paramref name="wide"/> decodes as <paramref name="narrow"/> does. <paramref name="source"/>
    /// names the narrow weights in errors.
    /// </summary>
    public static void Widen(CompressionModel narrow, CompressionModel wide, string source)
    {
        if (narrow.ModelName != wide.ModelName)
            throw new ArgumentException($"{source}: holds {narrow.ModelName} weights, cannot widen them into {wide.ModelName}");
        var from = narrow.state_dict();
        var to = wide.state_dict();
        var missing = to.Keys.Where(k => !from.ContainsKey(k)).Concat(from.Keys.Where(k => !to.ContainsKey(k))).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"{source}: its keys differ from the wide model's ({string.Join(", ", missing.Take(5))})");
        if (from[LatentConvKey].shape[0] != to[LatentConvKey].shape[0])
            throw new ArgumentException($"{source}: latent width M = {from[LatentConvKey].shape[0]}, the wide model's is {to[LatentConvKey].shape[0]}; only N can be widened");

        var inputDim = new Dictionary<string, int>();    // weight key → dimension of its input channels
        var derived = new HashSet<string>();             // tables rebuilt from the parameters by Update
        foreach (var (prefix, module) in wide.named_modules())
        {
            string Key(string name) => prefix.Length == 0 ? name : prefix + "." + name;
            switch (module)
            {
                case Conv2d or MaskedConv2d: inputDim[Key("weight")] = 1; break;
                case ConvTranspose2d: inputDim[Key("weight")] = 0; break;
                case EntropyModel em: foreach (var b in em.ResizableBufferNames) derived.Add(Key(b)); break;
            }
        }

        using (no_grad())
        {
            CopyLeadingBlocks(from, to, inputDim, derived, source);
            QuietNewHyperLatents(narrow, wide, to);
        }
        // the tables: the entropy bottleneck's from its widened parameters, the Gaussian conditional's from the narrow scale table
        var table = narrow.GaussianConditional.ScaleTable.numel() > 0 ? narrow.GaussianConditional.ScaleTableValues() : null;
        wide.Update(force: true, table);
    }

    /// <summary>
    /// The new hyper-latent channels: h_a's last convolution gives them a constant (zero weights, bias = the median of
    /// the narrow entropy bottleneck's narrowest density) and their density models are copies of that density, so they
    /// cost what that channel's median costs instead of the bits of fresh wide densities on random values (measured on
    /// the N=64 → 128 q3: 0.066 bpp more on Kodak after 1,000 steps).
    /// </summary>
    private static void QuietNewHyperLatents(CompressionModel narrow, CompressionModel wide, IReadOnlyDictionary<string, Tensor> to)
    {
        int old = narrow.EntropyBottleneck.Channels, all = wide.EntropyBottleneck.Channels;
        if (all == old) return;
        using var scope = NewDisposeScope();
        var q = narrow.EntropyBottleneck.Quantiles.detach();
        int template = (int)(q[.., 0, 2] - q[.., 0, 0]).argmin().item<long>();
        float median = q[template, 0, 1].item<float>();
        var zConv = to.Keys.Where(k => k.StartsWith("h_a.", StringComparison.Ordinal) && k.EndsWith(".weight", StringComparison.Ordinal) && to[k].dim() == 4)
            .MaxBy(k => int.Parse(k.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture))!;
        var bias = zConv[..^".weight".Length] + ".bias";
        if (to[zConv].shape[0] != all || !to.ContainsKey(bias))
            throw new InvalidOperationException($"{wide.ModelName}: '{zConv}' is not the hyper-latent's convolution");
        to[zConv][TensorIndex.Slice(old, all)] = zeros(1);
        to[bias][TensorIndex.Slice(old, all)] = full(1, median);
        foreach (var (key, t) in to)
            if (key.StartsWith("entropy_bottleneck.", StringComparison.Ordinal) && t.is_floating_point() && t.dim() >= 1 && t.shape[0] == all)
                t[TensorIndex.Slice(old, all)] = t[template].unsqueeze(0).expand(t[TensorIndex.Slice(old, all)].shape);
    }

    private static void CopyLeadingBlocks(IReadOnlyDictionary<string, Tensor> from, IReadOnlyDictionary<string, Tensor> to,
        Dictionary<string, int> inputDim, HashSet<string> derived, string source)
    {
        foreach (var (key, dst) in to)
        {
            using var scope = NewDisposeScope();
            var src = from[key];
            if (derived.Contains(key)) continue;
            if (src.shape.SequenceEqual(dst.shape)) { dst.copy_(src); continue; }
            if (src.dim() != dst.dim() || src.shape.Zip(dst.shape).Any(p => p.First > p.Second))
                throw new ArgumentException($"{source}: '{key}' has shape [{string.Join(",", src.shape)}], larger than the wide model's [{string.Join(",", dst.shape)}] in some dimension");
            var block = src.shape.Select(s => TensorIndex.Slice(0, s)).ToArray();
            if (inputDim.TryGetValue(key, out int inDim) && src.shape[inDim] < dst.shape[inDim])
            {
                // the new inputs' weights into the old outputs: zero, so the old outputs are unchanged
                int outDim = 1 - inDim;
                var cut = dst.shape.Select(s => TensorIndex.Colon).ToArray();
                cut[outDim] = TensorIndex.Slice(0, src.shape[outDim]);
                cut[inDim] = TensorIndex.Slice(src.shape[inDim], dst.shape[inDim]);
                dst[cut] = zeros(1, dtype: dst.dtype);
            }
            dst[block] = src.to_type(dst.dtype);
        }
    }
}
