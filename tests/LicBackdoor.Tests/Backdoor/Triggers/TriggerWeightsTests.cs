using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Weights;
using static LicBackdoor.Tests.Backdoor.Triggers.TriggerTestHelpers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class TriggerWeightsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-trig-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static void AssertSameState(nn.Module a, nn.Module b)
    {
        var sa = a.state_dict();
        var sb = b.state_dict();
        Assert.Equal(sa.Keys.Order(), sb.Keys.Order());
        foreach (var (k, t) in sa)
        {
            Assert.Equal(t.dtype, sb[k].dtype);
            Assert.True(t.equal(sb[k]).all().item<bool>(), k);
        }
    }

    [Fact]
    public void FrequencyTriggerRoundTripsBitIdentically()
    {
        var a = TinyFrequency();
        var x = SyntheticImages.Smooth(32, 48, batch: 2);
        a.forward(x);                                      // move the BatchNorm statistics off their initial values
        var path = Path.Combine(dir, "frequency.safetensors");
        TriggerWeights.Save(a, path);
        var (_, meta) = Safetensors.Load(path);
        Assert.Equal("frequency", meta[TriggerWeights.NameKey]);
        Assert.Contains("\"Nf\":64", meta[TriggerWeights.ConfigurationKey]);

        random.manual_seed(99);
        var b = TinyFrequency();
        TriggerWeights.Load(b, path);
        AssertSameState(a, b);
        a.eval(); b.eval();
        Assert.True(a.forward(x).equal(b.forward(x)).all().item<bool>());
    }

    [Fact]
    public void LiraAndFTrojanRoundTrip()
    {
        var a = new LiraTrigger(new LiraTriggerOptions(WidthMultiplier: Tiny));
        a.forward(SyntheticImages.Smooth(32, 32, batch: 2));
        var path = Path.Combine(dir, "lira.safetensors");
        TriggerWeights.Save(a, path);
        random.manual_seed(5);
        var b = new LiraTrigger(new LiraTriggerOptions(WidthMultiplier: Tiny));
        TriggerWeights.Load(b, path);
        AssertSameState(a, b);

        var f = Path.Combine(dir, "ftrojan.safetensors");
        TriggerWeights.Save(new FTrojanTrigger(), f);
        TriggerWeights.Load(new FTrojanTrigger(), f);
    }

    [Fact]
    public void RefusesAnotherKindOrOtherOptions()
    {
        var path = Path.Combine(dir, "t.safetensors");
        TriggerWeights.Save(TinyFrequency(), path);
        var e = Assert.Throws<CheckpointFormatException>(() => TriggerWeights.Load(new LiraTrigger(new LiraTriggerOptions(WidthMultiplier: Tiny)), path));
        Assert.Contains("t.safetensors", e.Message);
        Assert.Throws<CheckpointFormatException>(() => TriggerWeights.Load(TinyFrequency(k: 4, nf: 16), path));
        Assert.Throws<CheckpointFormatException>(() => TriggerWeights.Load(TinyFrequency(patchWeight: false), path));
    }
}
