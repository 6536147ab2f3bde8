using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Evaluation;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Evaluation;

public sealed class SegmentationTests : TorchTest
{
    [Fact]
    public void ConfusionMatrixIgnoresVoidAndScoresIoU()
    {
        var m = new ConfusionMatrix(classes: 3, ignoreIndex: 11);
        m.Add(tensor(new long[] { 0, 1, 1, 1, 5, 11, 2 }), tensor(new long[] { 0, 0, 1, 1, 11, 2, 11 }));
        Assert.Equal(5, m.Pixels);           // two void pixels left out
        Assert.Equal(1, m[0, 0]);
        Assert.Equal(1, m[0, 1]);
        Assert.Equal(2, m[1, 1]);
        Assert.Equal(1, m[2, 3]);            // predicted void: the "other" column
        Assert.Equal(0.5, m.IoU(0), 12);     // 1 / (1 + 0 + 1)
        Assert.Equal(2.0 / 3, m.IoU(1), 12); // 2 / (2 + 1 + 0)
        Assert.Equal(0.0, m.IoU(2), 12);
        Assert.Equal((0.5 + 2.0 / 3) / 3, m.MeanIoU(), 12);
        Assert.Equal(3.0 / 5, m.GlobalAccuracy(), 12);
    }

    [Fact]
    public void ConfusionMatrixAccumulatesAndSkipsUndefinedClasses()
    {
        var m = new ConfusionMatrix(classes: 4, ignoreIndex: 11);
        m.Add(tensor(new long[,] { { 0, 1 } }), tensor(new long[,] { { 0, 1 } }));
        m.Add(tensor(new long[,] { { 0, 0 } }), tensor(new long[,] { { 0, 1 } }));
        Assert.Equal(4, m.Pixels);
        Assert.True(double.IsNaN(m.IoU(2)) && double.IsNaN(m.IoU(3)));
        Assert.Equal((2.0 / 3 + 1.0 / 2) / 2, m.MeanIoU(), 12);
        Assert.Throws<ArgumentException>(() => m.Add(tensor(new long[] { 0 }), tensor(new long[] { 7 })));
        Assert.Throws<ArgumentException>(() => m.Add(tensor(new long[] { 0, 1 }), tensor(new long[] { 0 })));
        Assert.True(double.IsNaN(new ConfusionMatrix().GlobalAccuracy()));
    }

    [Fact]
    public void CamVidTestSplitHasImagesAndLabels()
    {
        var data = CamVid.Open("test", TestPaths.Data);
        Assert.Equal(117, data.Samples.Count);
        Assert.Equal("0001TP_008550", data.Samples[0].Name);
        using var scope = NewDisposeScope();
        var labels = data.Samples[0].LoadLabels();
        Assert.Equal(new long[] { 360, 480 }, labels.shape);
        Assert.InRange(labels.max().item<long>(), 3, 11);
        Assert.Equal(new long[] { 1, 3, 360, 480 }, data.Samples[0].LoadImage().shape);
        Assert.Throws<ArgumentException>(() => CamVid.Open("bogus", TestPaths.Data));
        Assert.Equal(12, CamVid.ClassNames.Count);
        Assert.Equal(((byte)64, (byte)0, (byte)128), CamVid.Palette[8]); // Car
    }

    [Fact]
    public void EvaluationOnTwoImagesGivesSaneScores()
    {
        using var net = ENet.FromFile(Path.Combine(TestPaths.Data, "models", "enet-camvid", "enet-camvid.pth"));
        var report = SegmentationEvaluation.Evaluate(net, CamVid.Open("test", TestPaths.Data), "enet-camvid.pth", limit: 2);
        Assert.Equal(2, report.Images);
        Assert.Equal(11, report.ClassIoU.Count);
        // The published checkpoint is barely trained (19 % mIoU on the whole split); Road and Sky work.
        Assert.InRange(report.GlobalAccuracy, 0.4, 0.8);
        Assert.InRange(report.MeanIoU, 0.1, 0.35);
        Assert.InRange(report.ClassIoU[3], 0.5, 0.95);
        Assert.Contains("\"mean_iou\"", report.ToJson());
    }
}
