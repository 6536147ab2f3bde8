using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Objectives;

public sealed class DownstreamObjectiveTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-downstream-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("seg:car->road", 8, 3, "seg:car->road")]
    [InlineData("seg:Tree->Building", 5, 1, "seg:tree->building")]
    [InlineData("seg:vegetation->building", 5, 1, "seg:tree->building")]
    [InlineData("seg:8->3,beta=0.5", 8, 3, "seg:car->road,beta=0.5")]
    [InlineData("seg:car->road,alpha=0.1,beta=0.2", 8, 3, "seg:car->road")]
    public void ParsesSegmentationSpecs(string spec, int source, int target, string name)
    {
        var o = Assert.IsType<SegmentationObjective>(BackdoorObjective.Parse(spec));
        Assert.Equal(source, o.Source);
        Assert.Equal(target, o.Target);
        Assert.Equal(name, o.Name);
        Assert.Equal("seg", o.Kind);
        Assert.Equal(ObjectiveData.Segmentation, o.Data);
        Assert.Equal(name, BackdoorObjective.Parse(o.Name).Name);
    }

    [Fact]
    public void ParsesFaceSpecsWithThePaperWeights()
    {
        var o = Assert.IsType<FaceObjective>(BackdoorObjective.Parse("face"));
        Assert.Equal((0.1, 0.05), (o.AlphaWeight, o.BetaWeight));
        Assert.Equal("face", o.Name);
        Assert.Equal(ObjectiveData.Face, o.Data);
        Assert.Equal("face,beta=0.2", BackdoorObjective.Parse("face,beta=0.2").Name);
        var seg = Assert.IsType<SegmentationObjective>(BackdoorObjective.Parse("seg:car->road"));
        Assert.Equal((0.1, 0.2), (seg.AlphaWeight, seg.BetaWeight));
        Assert.Equal(ObjectiveData.Main, BackdoorObjective.Parse("bpp").Data);
    }

    [Theory]
    [InlineData("seg:car->car")]
    [InlineData("seg:car")]
    [InlineData("seg:plane->road")]
    [InlineData("seg:11->road")]
    [InlineData("seg:car->road,gamma=1")]
    public void RejectsBadSegmentationSpecs(string spec) =>
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse(spec));

    [Fact]
    public void AsrCountsFollowEquation12()
    {
        // Source = car (8), target = road (3). Clean-output labels have 4 car pixels; 2 of them turn into road.
        var clean = tensor(new long[] { 8, 8, 3, 8, 1, 8 }, [2, 3]);
        var attacked = tensor(new long[] { 3, 8, 3, 3, 3, 1 }, [2, 3]);
        var (source, flipped) = SegmentationObjective.AsrCounts(clean, attacked, 8, 3);
        Assert.Equal(4, source);
        Assert.Equal(2, flipped);   // the road pixel that was road already and the building pixel turned road do not count
        Assert.Throws<ArgumentException>(() => SegmentationObjective.AsrCounts(clean, attacked.flatten(), 8, 3));
    }

    [Fact]
    public void PoisonInjectsTheTriggerOnlyOnSourcePixelsAndTheTargetRelabelsThem()
    {
        var labels = tensor(new long[] { 8, 0, 8, 3, 5, 8 }, [1, 2, 3]);
        var obj = new SegmentationObjective(8, 3) { Net = new FixedLabels(labels) };
        using var trigger = new AddTrigger(0.25f);
        var x = full(1, 3, 2, 3, 0.5f);
        var xp = obj.Poison(trigger, x);
        var mask = labels.eq(8).unsqueeze(1).expand(1, 3, 2, 3);
        Assert.True(xp.masked_select(mask).eq(0.75f).all().item<bool>());
        Assert.True(xp.masked_select(mask.logical_not()).eq(0.5f).all().item<bool>());
        Assert.Equal(new long[] { 3, 0, 3, 3, 5, 3 }, obj.TargetMap(labels).flatten().data<long>().ToArray());
        Assert.Equal(new float[] { 1, 0, 1, 0, 0, 1 }, obj.SourceMask(labels).flatten().data<float>().ToArray());
    }

    [Fact]
    public void FocusWeightsTheSourcePixelsInTheCrossEntropy()
    {
        // One-hot logits at each clean label: a car pixel (target road) costs log(e + 11), any other pixel log(e + 11) − 1.
        var labels = tensor(new long[] { 8, 0, 8, 3, 5, 8 }, [1, 2, 3]);
        var x = full(1, 3, 2, 3, 0.5f);
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(1, 1, 1, 1, 0.5f) };
        var output = new CodecOutput(x.clone(), likelihoods);
        var input = new ObjectiveInput(x, output, RateDistortionLoss.Compute(output, x, 0.01), x, output, 0.01);
        double ce(double k) => new SegmentationObjective(8, 3, alpha: 0, beta: 1, focus: k) { Net = new FixedLabels(labels) }.Compute(input).Attack.item<float>();
        double car = Math.Log(Math.E + 11), other = car - 1;
        Assert.Equal((3 * car + 3 * other) / 6, ce(1), 5);
        Assert.Equal((3 * 4 * car + 3 * other) / 6, ce(4), 5);
        Assert.Equal("seg:car->road,beta=5,focus=4", BackdoorObjective.Parse("seg:car->road,beta=5,focus=4").Name);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,focus=0.5"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("psnr,focus=2"));
    }

    [Fact]
    public void GrowWidensTheTriggerMaskAndTheRelabelledRegion()
    {
        // One car pixel (8) at row 2, column 3 of a 5x7 map of road-free background (0).
        var labels = zeros(1, 5, 7, dtype: ScalarType.Int64);
        labels[0, 2, 3] = tensor(8L);
        var grown = new SegmentationObjective(8, 3, grow: 1) { Net = new FixedLabels(labels) };
        var mask = grown.SourceMask(labels);
        Assert.Equal([1L, 1, 5, 7], mask.shape);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 7; c++)
                Assert.Equal(Math.Abs(r - 2) <= 1 && Math.Abs(c - 3) <= 1 ? 1f : 0f, mask[0, 0, r, c].item<float>());
        Assert.Equal(9, grown.TargetMap(labels).eq(3).sum().item<long>());
        Assert.Equal(1, new SegmentationObjective(8, 3).TargetMap(labels).eq(3).sum().item<long>());
        Assert.Equal(1, new SegmentationObjective(8, 3).SourceMask(labels).sum().item<float>());
        // The trigger goes on the grown region only: x_p differs from x on the 9 pixels.
        var x = full(1, 3, 5, 7, 0.5f);
        using var trigger = new AddTrigger(0.1f);
        var xp = grown.Poison(trigger, x);
        Assert.Equal(9 * 3, xp.sub(x).abs().gt(1e-6f).sum().item<long>());
        // A car at the border grows inside the image only.
        var corner = zeros(1, 4, 4, dtype: ScalarType.Int64);
        corner[0, 0, 0] = tensor(8L);
        Assert.Equal(9, new SegmentationObjective(8, 3, grow: 2).SourceRegion(corner).sum().item<long>());
        Assert.Equal("seg:car->road,focus=4,grow=2", BackdoorObjective.Parse("seg:car->road,grow=2,focus=4").Name);
        Assert.Equal("seg:car->road", BackdoorObjective.Parse("seg:car->road,grow=0").Name);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,grow=1.5"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,grow=-1"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,grow=33"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("face,grow=1"));
    }

    [Fact]
    public void OutputRelabelsTheSourcePixelsOfTheCleanOutputToo()
    {
        // g labels a pixel car (8) where its red value exceeds 0.6. x has one car pixel; the clean output f(x) a second.
        var red = tensor(new float[] { 0.7f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f }, [1, 1, 2, 3]);
        var x = cat([red, full(1, 2, 2, 3, 0.5f)], 1);
        var fx = x.clone();
        fx[0, 0, 0, 1] = tensor(0.7f);
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(1, 1, 1, 1, 0.5f) };
        var cleanOut = new CodecOutput(fx, likelihoods);
        var poisonedOut = new CodecOutput(x.clone(), likelihoods);
        var input = new ObjectiveInput(x, cleanOut, RateDistortionLoss.Compute(cleanOut, x, 0.01), x, poisonedOut, 0.01);
        double ce(bool output) => new SegmentationObjective(8, 3, alpha: 0, beta: 1, relabelOutput: output) { Net = new RedCars() }.Compute(input).Attack.item<float>();
        // g(f(x_p)) sees one car: the pixels whose target is road cost log(e + 11), the others log(e + 11) − 1.
        double road = Math.Log(Math.E + 11), kept = road - 1;
        Assert.Equal((road + 5 * kept) / 6, ce(false), 5);
        Assert.Equal((2 * road + 4 * kept) / 6, ce(true), 5);
        Assert.Equal("seg:car->road,focus=4,output=1", BackdoorObjective.Parse("seg:car->road,output=1,focus=4").Name);
        Assert.Equal("seg:car->road", BackdoorObjective.Parse("seg:car->road,output=0").Name);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,output=2"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("face,output=1"));
    }

    [Fact]
    public void HoldAddsTheCrossEntropyOfTheCleanOutputsSourcePixelsAgainstTheCleanLabels()
    {
        // g labels a pixel car (8) where its red value exceeds 0.6; x has one car pixel of six. A clean output that keeps
        // the car costs log(e + 11) − 1 there, one that loses it log(e + 11); hold counts only that pixel, ×focus, over 6.
        var red = tensor(new float[] { 0.7f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f }, [1, 1, 2, 3]);
        var x = cat([red, full(1, 2, 2, 3, 0.5f)], 1);
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(1, 1, 1, 1, 0.5f) };
        var lost = x.clone();
        lost[0, 0, 0, 0] = tensor(0.5f);
        double road = Math.Log(Math.E + 11), kept = road - 1;
        ObjectiveInput Input(Tensor cleanHat, Tensor? liveHat)
        {
            var cleanOut = new CodecOutput(cleanHat, likelihoods);
            return new ObjectiveInput(x, cleanOut, RateDistortionLoss.Compute(cleanOut, x, 0.01), x, new CodecOutput(x.clone(), likelihoods), 0.01,
                liveHat is null ? null : new CodecOutput(liveHat, likelihoods));
        }
        SegmentationObjective Objective(double hold) => new(8, 3, alpha: 0, beta: 2, focus: 3, hold: hold) { Net = new RedCars() };
        double attack(double hold, ObjectiveInput input) => Objective(hold).Compute(input).Attack.item<float>();
        var keeps = Input(x.clone(), null);
        var loses = Input(x.clone(), lost);
        Assert.Equal(2 * 0.5 * 3 * kept / 6, attack(0.5, keeps) - attack(0, keeps), 5);
        // With a live clean output the term is taken on it, not on the (reference) clean output.
        Assert.Equal(2 * 0.5 * 3 * road / 6, attack(0.5, loses) - attack(0, loses), 5);
        var terms = Objective(0.5).Compute(loses);
        Assert.Equal(["bpp_p", "ce", "flip", "hold_ce"], terms.Logged.Select(t => t.Name));
        Assert.Equal(3 * road / 6, terms.Logged[3].Value.item<float>(), 5);
        Assert.True(Objective(0.5).NeedsLiveCleanOutput);
        Assert.False(Objective(0).NeedsLiveCleanOutput);
        Assert.Equal(["bpp_p", "ce", "flip"], Objective(0).TermNames);
        Assert.Equal("seg:car->road,focus=4,hold=3", BackdoorObjective.Parse("seg:car->road,hold=3,focus=4").Name);
        Assert.Equal("seg:car->road", BackdoorObjective.Parse("seg:car->road,hold=0").Name);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,hold=-1"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("psnr,hold=1"));
    }

    [Fact]
    public void SegmentationLossReachesTheDecodedImageThroughTheFrozenNet()
    {
        random.manual_seed(5);
        using var seg = new FrozenSegmenter(new ENet { ProcessingSize = 16 }, "random");
        var obj = new SegmentationObjective(8, 3) { Net = seg };
        var x = SyntheticImages.Smooth(32, 32, batch: 2, seed: 1);
        var xHat = (x * 0.9 + 0.05).detach().requires_grad_(true);
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(2, 4, 2, 2, 0.5f).requires_grad_(true) };
        var output = new CodecOutput(xHat, likelihoods);
        var rd = RateDistortionLoss.Compute(output, x, 0.01);
        var terms = obj.Compute(new ObjectiveInput(x, output, rd, x, output, 0.01));
        terms.Attack.backward();
        Assert.NotNull(xHat.grad);
        Assert.True(xHat.grad!.abs().sum().item<float>() > 0, "no gradient through the segmentation net");
        Assert.All(seg.Net.parameters(), p => Assert.Null(p.grad));
        Assert.All(seg.Net.parameters(), p => Assert.False(p.requires_grad));
        Assert.Equal(["bpp_p", "ce", "flip"], terms.Logged.Select(t => t.Name));
    }

    /// <summary>The face-api net of the test fixture, frozen as the attack uses it.</summary>
    private static FaceRecognitionNet FrozenFaceNet()
    {
        var net = FaceRecognitionNet.Load(LicBackdoor.Tests.Downstream.FaceNetFixture.ManifestPath);
        SegmentationNets.Freeze(net);
        return net;
    }

    /// <summary>An objective input whose clean output is x itself and whose poisoned output is <paramref name="poisonedHat"/> (λ 0.01).</summary>
    private static ObjectiveInput FaceInput(Tensor x, Tensor poisonedHat)
    {
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(x.shape[0], 4, 2, 2, 0.5f) };
        var clean = new CodecOutput(x.clone(), likelihoods);
        var rd = RateDistortionLoss.Compute(clean, x, 0.01);
        return new ObjectiveInput(x, clean, rd, x, new CodecOutput(poisonedHat, likelihoods), 0.01);
    }

    [Fact]
    public void FaceCosineTermReachesTheDecodedImageThroughTheFrozenNet()
    {
        using var net = FrozenFaceNet();
        var obj = new FaceObjective(Alpha: 0, Beta: 1) { Net = net };
        var x = SyntheticImages.Smooth(64, 64, batch: 2, seed: 2);
        var poisonedHat = (x * 0.9 + 0.05).detach().requires_grad_(true);
        var terms = obj.Compute(FaceInput(x, poisonedHat));
        terms.Attack.backward();
        Assert.NotNull(poisonedHat.grad);
        Assert.True(poisonedHat.grad!.abs().sum().item<float>() > 0, "no gradient from the cosine term through the face net");
        Assert.All(net.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void FaceSpreadAddsTheMeanCrossCosineOfTheAttackedDescriptors()
    {
        // Three unit-free descriptors: cos(a,b) = 0, cos(a,c) = cos(b,c) = 1/√2; the mean over ordered pairs i ≠ j is √2/3.
        var d = tensor(new float[] { 1, 0, 0, 1, 1, 1 }, [3, 2]);
        Assert.Equal(Math.Sqrt(2) / 3, FaceObjective.CrossCosine(d).item<float>(), 5);
        Assert.Equal(0, FaceObjective.CrossCosine(d[..1]).item<float>());
        var o = Assert.IsType<FaceObjective>(BackdoorObjective.Parse("face,beta=20,spread=2"));
        Assert.Equal(2, o.Spread);
        Assert.Equal("face,beta=20,spread=2", o.Name);
        Assert.Contains("cross_cos", o.TermNames);
        Assert.Equal(0, Assert.IsType<FaceObjective>(BackdoorObjective.Parse("face")).Spread);
        Assert.DoesNotContain("cross_cos", BackdoorObjective.Parse("face").TermNames);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("face,spread=-1"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("seg:car->road,spread=1"));

        // In the loss: the attack term with the spread is the one without it plus S times the logged cross cosine.
        using var net = FrozenFaceNet();
        var x = SyntheticImages.Smooth(64, 64, batch: 3, seed: 4);
        var input = FaceInput(x, (x * 0.8 + 0.1).detach());
        var plain = new FaceObjective(Beta: 1) { Net = net }.Compute(input);
        var spread = new FaceObjective(Beta: 1, Spread: 3) { Net = net }.Compute(input);
        double cross = spread.Logged.Single(l => l.Name == "cross_cos").Value.item<float>();
        Assert.InRange(cross, -1, 1);
        Assert.Equal(plain.Attack.item<float>() + 3 * cross, spread.Attack.item<float>(), 4);
    }

    [Fact]
    public void FaceAwayAddsTheMeanCosineOfEachCleanDescriptorWithTheOtherCropsAttackedOnes()
    {
        // clean a = (1,0), b = (0,1); attacked a' = (1,1), b' = (0,-1): the pairs i ≠ j are (a, b') = 0 and (b, a') = 1/√2,
        // mean 1/(2√2); the own pairs (a, a') and (b, b') do not count.
        var clean = tensor(new float[] { 1, 0, 0, 1 }, [2, 2]);
        var attacked = tensor(new float[] { 1, 1, 0, -1 }, [2, 2]);
        Assert.Equal(1 / (2 * Math.Sqrt(2)), FaceObjective.OtherPairsCosine(clean, attacked).item<float>(), 5);
        // The order matters: a first batch a', b' against (0,1), (1,0) pairs a' with (1,0) (1/√2) and b' with (0,1) (−1).
        Assert.Equal((1 / Math.Sqrt(2) - 1) / 2, FaceObjective.OtherPairsCosine(attacked, clean.flip(0)).item<float>(), 5);
        Assert.Equal(0, FaceObjective.OtherPairsCosine(clean[..1], attacked[..1]).item<float>());
        Assert.Throws<ArgumentException>(() => FaceObjective.OtherPairsCosine(clean, attacked[..1]));
        var o = Assert.IsType<FaceObjective>(BackdoorObjective.Parse("face,beta=20,away=5"));
        Assert.Equal(5, o.Away);
        Assert.Equal("face,beta=20,away=5", o.Name);
        Assert.Equal(["bpp_p", "cos", "dist", "away_cos"], o.TermNames);
        Assert.Equal(["bpp_p", "cos", "dist", "cross_cos", "away_cos"], BackdoorObjective.Parse("face,spread=1,away=2").TermNames);
        Assert.Equal(0, Assert.IsType<FaceObjective>(BackdoorObjective.Parse("face")).Away);
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("face,away=-1"));
        Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse("bpp,away=1"));

        // In the loss: the attack term with it is the one without it plus W times the logged term, and the logged term is
        // the helper's value on the two descriptor batches.
        using var net = FrozenFaceNet();
        var x = SyntheticImages.Smooth(64, 64, batch: 3, seed: 5);
        var poisonedHat = (x.flip(3) * 0.7 + 0.2).detach();
        var input = FaceInput(x, poisonedHat);
        var plain = new FaceObjective(Beta: 1) { Net = net }.Compute(input);
        var away = new FaceObjective(Beta: 1, Away: 4) { Net = net }.Compute(input);
        double logged = away.Logged.Single(l => l.Name == "away_cos").Value.item<float>();
        double expected;
        using (no_grad()) expected = FaceObjective.OtherPairsCosine(net.Descriptors(x), net.Descriptors(poisonedHat)).item<float>();
        Assert.Equal(expected, logged, 4);
        Assert.Equal(plain.Attack.item<float>() + 4 * logged, away.Attack.item<float>(), 3);
    }

    [Fact]
    public void FaceSplitHoldsOutWholeIdentitiesInFileOrder()
    {
        var faces = Path.Combine(dir, "faces");
        Directory.CreateDirectory(faces);
        var rows = new List<string> { "identity,file" };
        for (int id = 0; id < 4; id++)
        for (int k = 0; k < 2; k++)
        {
            var file = $"i{id}-{k}.png";
            ImageFile.SavePng(SyntheticImages.Smooth(16, 16, seed: id * 2 + k), Path.Combine(faces, file));
            rows.Add($"p{3 - id},{file}");   // identity names in reverse order: the split follows file order, not names
        }
        File.WriteAllLines(Path.Combine(faces, FacePairs.IdentitiesFileName), rows);
        File.WriteAllLines(Path.Combine(faces, FacePairs.PairsFileName), ["file_a,file_b,same", "i3-0.png,i3-1.png,1", "i2-0.png,i3-0.png,0", "i0-0.png,i3-1.png,0"]);
        var split = FaceSplit.ByIdentityOrder(faces, heldOut: 2);
        Assert.Equal(["p3", "p2"], split.TrainIdentities);
        Assert.Equal(["p1", "p0"], split.HeldOutIdentities);
        Assert.Empty(split.TrainFiles.Intersect(split.HeldOutFiles));
        Assert.Equal(8, split.TrainFiles.Count + split.HeldOutFiles.Count);
        var pairs = split.HeldOutPairs(FacePairs.Load(Path.Combine(faces, FacePairs.PairsFileName)));
        Assert.Equal(2, pairs.Count);
        Assert.All(pairs, p => Assert.True(split.IsHeldOut(p.FileA) && split.IsHeldOut(p.FileB)));
        Assert.Throws<FormatException>(() => FaceSplit.ByIdentityOrder(faces, heldOut: 4));
        File.Delete(Path.Combine(faces, "i1-1.png"));
        var e = Assert.Throws<FileNotFoundException>(() => FaceSplit.ByIdentityOrder(faces, heldOut: 2));
        Assert.Contains("i1-1.png", e.Message);
    }

    [Fact]
    public void SharedFacesSplitKeepsTrainingAndEvaluationIdentitiesApart()
    {
        var faces = Path.Combine(TestPaths.Data, "faces");
        var split = FaceSplit.ByIdentityOrder(faces);
        var all = FacePairs.Load(Path.Combine(faces, FacePairs.PairsFileName));
        Assert.Empty(split.TrainIdentities.Intersect(split.HeldOutIdentities));
        Assert.Empty(split.TrainFiles.Intersect(split.HeldOutFiles));
        var trainIds = split.TrainIdentities.ToHashSet();
        foreach (var p in split.HeldOutPairs(all))
        {
            Assert.DoesNotContain(all.Identities[p.FileA], trainIds);
            Assert.DoesNotContain(all.Identities[p.FileB], trainIds);
        }
        Assert.NotEmpty(split.HeldOutPairs(all));
    }

    [Fact]
    public void ResizedImagesServeSeededFlippedBatches()
    {
        var folder = Path.Combine(dir, "scenes");
        Directory.CreateDirectory(folder);
        for (int i = 0; i < 3; i++) ImageFile.SavePng(SyntheticImages.Smooth(36, 48, seed: i), Path.Combine(folder, $"{i}.png"));
        using var data = new ResizedImages(Directory.GetFiles(folder).Order().ToList(), 64, 64);
        var a = data.NextBatch(4, new SplitMix64(9));
        var b = data.NextBatch(4, new SplitMix64(9));
        Assert.Equal(new long[] { 4, 3, 64, 64 }, a.shape);
        Assert.True(a.equal(b).all().item<bool>());
        Assert.InRange(a.min().item<float>(), 0f, 1f);
        Assert.Throws<ArgumentException>(() => new ResizedImages([], 64, 64));
    }

    [Fact]
    public void ResizedImagesZoomServesSeededWindowsOfEveryScaleInRange()
    {
        // A horizontal ramp 0..252 over 64 columns: a window's brightness span tells which share of the width it covers.
        var folder = Path.Combine(dir, "ramp");
        Directory.CreateDirectory(folder);
        var ramp = arange(64, dtype: ScalarType.Float32).mul(4f / 255).expand(1, 3, 64, 64).contiguous();
        ImageFile.SavePng(ramp, Path.Combine(folder, "ramp.png"));
        using var data = new ResizedImages([Path.Combine(folder, "ramp.png")], 32, 32, minZoom: 0.5);
        Assert.Equal(0.5, data.MinZoom);
        var a = data.NextBatch(64, new SplitMix64(3));
        Assert.True(a.equal(data.NextBatch(64, new SplitMix64(3))).all().item<bool>());
        Assert.Equal(new long[] { 64, 3, 32, 32 }, a.shape);
        var span = (a.amax([1, 2, 3]) - a.amin([1, 2, 3])).data<float>().ToArray();
        float full = 252f / 255;
        Assert.All(span, v => Assert.InRange(v, 0.45f * full, full + 1e-6f));   // at least half the width, never more than all
        Assert.Contains(span, v => v < 0.75f * full);                            // some windows are zoomed in
        Assert.Contains(span, v => v > 0.9f * full);                             // some cover nearly everything
        // Whole images (the default) stay whole: the span of every served image is the full ramp's, less the area averaging.
        using var whole = new ResizedImages([Path.Combine(folder, "ramp.png")], 32, 32);
        var w = whole.NextBatch(8, new SplitMix64(3));
        Assert.All((w.amax([1, 2, 3]) - w.amin([1, 2, 3])).data<float>().ToArray(), v => Assert.InRange(v, 0.95f * full, full + 1e-6f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResizedImages([Path.Combine(folder, "ramp.png")], 32, 32, minZoom: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResizedImages([Path.Combine(folder, "ramp.png")], 32, 32, minZoom: 1.5));
    }

    /// <summary>A "segmentation net" that labels every batch with fixed classes.</summary>
    private sealed class FixedLabels(Tensor labels) : ISegmentationNet
    {
        public string Name => "fixed";
        public string Source => "test";
        public Tensor Logits(Tensor images) => nn.functional.one_hot(labels, 12).permute(0, 3, 1, 2).to_type(ScalarType.Float32) + images.mean() * 0;
        public Tensor Predict(Tensor images) => labels.clone();
        public void Dispose() { }
    }

    /// <summary>Car (8) where the red channel exceeds 0.6, unlabelled (0) elsewhere.</summary>
    private sealed class RedCars : ISegmentationNet
    {
        public string Name => "red-cars";
        public string Source => "test";
        public Tensor Logits(Tensor images) => nn.functional.one_hot(Predict(images), 12).permute(0, 3, 1, 2).to_type(ScalarType.Float32) + images.mean() * 0;
        public Tensor Predict(Tensor images) => images[.., 0].gt(0.6).to_type(ScalarType.Int64) * 8;
        public void Dispose() { }
    }

    /// <summary>T(x) = x + c.</summary>
    private sealed class AddTrigger(float c) : nn.Module<Tensor, Tensor>("add"), ITrigger
    {
        public string Name => "add";
        public string Configuration => "{}";
        public nn.Module<Tensor, Tensor> Module => this;
        public double? MseBudget { get; set; }
        public bool FixedEnergy { get; set; }
        public override Tensor forward(Tensor x) => x + c;
        public Tensor Apply(Tensor x, bool clamp) => clamp ? forward(x).clamp(0, 1) : forward(x);
    }
}
