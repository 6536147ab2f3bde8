using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Tests.Downstream;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Evaluation;

public sealed class FaceVerificationTests : TorchTest, IClassFixture<FaceNetFixture>
{
    private readonly FaceNetFixture fixture;
    private readonly string dir = Directory.CreateTempSubdirectory("licb-verify-").FullName;

    public FaceVerificationTests(FaceNetFixture fixture) => this.fixture = fixture;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static FacePairDistance D(bool same, double d) => new("a", "b", same, d);

    [Fact]
    public void Score_CountsAcceptsBelowTheThreshold()
    {
        var distances = new[] { D(true, 0.2), D(true, 0.5), D(true, 0.7), D(false, 0.55), D(false, 0.9), D(false, 1.0) };
        var r = FaceVerification.Score(distances, 0.6);
        Assert.Equal(4 / 6.0, r.Accuracy, 12);
        Assert.Equal(2 / 3.0, r.TrueAcceptRate, 12);
        Assert.Equal(1 / 3.0, r.FalseAcceptRate, 12);
        Assert.Equal(1.4 / 3, r.MeanSameDistance, 12);
        Assert.Equal(2.45 / 3, r.MeanDifferentDistance, 12);
        // 5 of 6 right between 0.5 and 0.55 and between 0.7 and 0.9; the tie goes to the one nearer 0.6.
        Assert.Equal(0.525, r.BestThreshold, 12);
        Assert.Equal(5 / 6.0, r.BestAccuracy, 12);
        Assert.Equal(4, r.CorrectCount);
        // A distance equal to the threshold is rejected (face-api: accept iff distance < threshold).
        Assert.Equal(0.0, FaceVerification.Score([D(true, 0.6)], 0.6).TrueAcceptRate);
    }

    [Fact]
    public void BestThreshold_HandlesSeparableAndTiedDistances()
    {
        var (t, acc) = FaceVerification.BestThreshold([D(true, 0.3), D(true, 0.3), D(false, 0.8)]);
        Assert.Equal(1.0, acc);
        Assert.Equal(0.55, t, 12);
        (_, acc) = FaceVerification.BestThreshold([D(true, 0.5), D(false, 0.5)]);
        Assert.Equal(0.5, acc);
    }

    [Fact]
    public void Evaluate_ComputesEachCropOnceAndScoresThePairs()
    {
        foreach (var f in new[] { "img6.png", "img7.png", "img25.png" })
            File.Copy(FaceNetFixture.Crop(f), Path.Combine(dir, f));
        var csv = Path.Combine(dir, "pairs.csv");
        File.WriteAllText(csv, "file_a,file_b,same\nimg6.png,img7.png,1\nimg6.png,img25.png,0\nimg7.png,img25.png,0\n");
        int calls = 0;
        var r = FaceVerification.Evaluate(fixture.Net, FacePairs.Load(csv), transform: x => { calls++; return x; });
        Assert.Equal(3, calls);
        Assert.Equal(3, r.PairCount);
        Assert.Equal(1.0, r.Accuracy);
        Assert.Equal(1.0, r.TrueAcceptRate);
        Assert.Equal(0.0, r.FalseAcceptRate);
        Assert.Contains("\"accuracy\": 1", r.ToJson());
        // A transform that destroys the image makes every pair look alike.
        var grey = FaceVerification.Evaluate(fixture.Net, FacePairs.Load(csv), transform: x => full_like(x, 0.5f));
        Assert.All(grey.Distances, d => Assert.Equal(0.0, d.Distance, 6));
    }
}
