using LicBackdoor.Weights;

namespace LicBackdoor.Tests.Weights;

public sealed class CompressAiKeysTests
{
    [Theory]
    [InlineData("module.g_a.0.weight", "g_a.0.weight")]
    [InlineData("g_a.0.downsample.weight", "g_a.0.skip.weight")]
    [InlineData("entropy_bottleneck._matrices.2", "entropy_bottleneck.matrices.2")]
    [InlineData("entropy_bottleneck._biases.4", "entropy_bottleneck.biases.4")]
    [InlineData("entropy_bottleneck._factors.0", "entropy_bottleneck.factors.0")]
    [InlineData("entropy_bottleneck._matrix3", "entropy_bottleneck.matrices.3")]
    [InlineData("entropy_bottleneck._bias0", "entropy_bottleneck.biases.0")]
    [InlineData("entropy_bottleneck._factor1", "entropy_bottleneck.factors.1")]
    [InlineData("module.entropy_bottleneck._matrix0", "entropy_bottleneck.matrices.0")]
    [InlineData("entropy_bottleneck.quantiles", "entropy_bottleneck.quantiles")]
    [InlineData("entropy_bottleneck._quantized_cdf", "entropy_bottleneck._quantized_cdf")]
    [InlineData("gaussian_conditional._offset", "gaussian_conditional._offset")]
    public void MapsLegacySpellings(string from, string to) => Assert.Equal(to, CompressAiKeys.Map(from));

    [Fact]
    public void CollisionsAreNamed()
    {
        var sd = new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["entropy_bottleneck._matrix0"] = TorchSharp.torch.zeros(1),
            ["entropy_bottleneck.matrices.0"] = TorchSharp.torch.zeros(1),
        };
        var e = Assert.Throws<CheckpointFormatException>(() => CompressAiKeys.Remap(sd, "x.pth"));
        Assert.Contains("x.pth", e.Message);
        Assert.Contains("_matrix0", e.Message);
    }
}
