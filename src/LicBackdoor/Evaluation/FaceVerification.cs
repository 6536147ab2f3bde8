using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Evaluation;

/// <summary>The descriptor distance of one labelled pair.</summary>
public sealed record FacePairDistance(string FileA, string FileB, bool Same, double Distance);

/// <summary>
/// Face verification at a threshold (same person iff distance &lt; threshold, as face-api's FaceMatcher):
/// accuracy over all pairs, true-accept rate (same pairs accepted), false-accept rate (different pairs
/// accepted), mean distances, and the threshold that maximises accuracy on these pairs.
/// </summary>
public sealed record FaceVerificationReport(
    string Pairs, string Weights, double Threshold, int SameCount, int DifferentCount,
    double Accuracy, double TrueAcceptRate, double FalseAcceptRate,
    double MeanSameDistance, double MeanDifferentDistance,
    double BestThreshold, double BestAccuracy, string Date, IReadOnlyList<FacePairDistance> Distances)
{
    /// <summary>Number of pairs.</summary>
    public int PairCount => SameCount + DifferentCount;

    /// <summary>Number of pairs classified correctly at <see cref="Threshold"/>.</summary>
    public int CorrectCount => (int)Math.Round(Accuracy * PairCount);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The report as JSON (summary figures and every pair's distance).</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        pairs = Pairs, weights = Weights, date = Date, threshold = Threshold,
        pair_count = PairCount, same_count = SameCount, different_count = DifferentCount, correct = CorrectCount,
        accuracy = Accuracy, true_accept_rate = TrueAcceptRate, false_accept_rate = FalseAcceptRate,
        mean_same_distance = MeanSameDistance, mean_different_distance = MeanDifferentDistance,
        best_threshold = BestThreshold, best_accuracy = BestAccuracy,
        distances = Distances.Select(d => new { file_a = d.FileA, file_b = d.FileB, same = d.Same, distance = d.Distance }),
    }, JsonOptions);
}

/// <summary>
/// Face verification over labelled pairs with the face recognition net: every crop's descriptor is computed
/// once, then each pair's Euclidean distance is compared with the threshold.
/// </summary>
public static class FaceVerification
{
    /// <summary>Images per forward pass.</summary>
    public const int BatchSize = 16;

    /// <summary>
    /// Descriptors <c>[128]</c> (detached, float32) of image files. <paramref name="transform"/>, when given,
    /// is applied to each loaded image <c>[1, 3, H, W]</c> first (e.g. a codec round trip or a trigger).
    /// Consecutive images of equal size are batched.
    /// </summary>
    public static Dictionary<string, Tensor> Descriptors(
        FaceRecognitionNet net, IReadOnlyList<string> paths, Func<Tensor, Tensor>? transform = null, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(paths);
        net.eval();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var _ = no_grad();
        var batch = new List<(string Path, Tensor Image)>();
        void Flush()
        {
            if (batch.Count == 0) return;
            using (var scope = NewDisposeScope())
            {
                var d = net.Descriptors(cat(batch.Select(b => b.Image).ToList(), 0));
                for (int k = 0; k < batch.Count; k++)
                    result[batch[k].Path] = d[k].clone().MoveToOuterDisposeScope();
            }
            foreach (var b in batch) b.Image.Dispose();
            batch.Clear();
            progress?.Invoke(result.Count, paths.Count);
        }
        try
        {
            foreach (var path in paths)
            {
                Tensor x;
                using (var scope = NewDisposeScope())
                {
                    x = ImageFile.Load(path);
                    if (transform is not null) x = transform(x);
                    x = x.detach().MoveToOuterDisposeScope();
                }
                if (batch.Count > 0 && (!x.shape.SequenceEqual(batch[0].Image.shape) || batch.Count == BatchSize)) Flush();
                batch.Add((path, x));
            }
            Flush();
        }
        catch
        {
            foreach (var b in batch) b.Image.Dispose();
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Evaluates verification on <paramref name="pairs"/>: descriptors for every crop once (optionally after
    /// <paramref name="transform"/>), distances per pair, figures at <paramref name="threshold"/>.
    /// </summary>
    public static FaceVerificationReport Evaluate(
        FaceRecognitionNet net, FacePairs pairs, double threshold = FaceRecognitionNet.DefaultThreshold,
        Func<Tensor, Tensor>? transform = null, Action<int, int>? progress = null, string weights = "", string pairsName = "")
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var paths = pairs.Files.Select(pairs.PathOf).ToList();
        var descriptors = Descriptors(net, paths, transform, progress);
        try
        {
            var distances = pairs.Pairs.Select(p => new FacePairDistance(p.FileA, p.FileB, p.Same,
                FaceRecognitionNet.Distance(descriptors[pairs.PathOf(p.FileA)], descriptors[pairs.PathOf(p.FileB)]))).ToList();
            return Score(distances, threshold, weights, pairsName);
        }
        finally
        {
            foreach (var t in descriptors.Values) t.Dispose();
        }
    }

    /// <summary>Verification figures from pair distances (same person iff distance &lt; threshold).</summary>
    public static FaceVerificationReport Score(IReadOnlyList<FacePairDistance> distances, double threshold, string weights = "", string pairsName = "")
    {
        ArgumentNullException.ThrowIfNull(distances);
        if (distances.Count == 0) throw new ArgumentException("no pairs to score", nameof(distances));
        if (!double.IsFinite(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), "threshold must be finite");
        var same = distances.Where(d => d.Same).ToList();
        var diff = distances.Where(d => !d.Same).ToList();
        int tp = same.Count(d => d.Distance < threshold), fp = diff.Count(d => d.Distance < threshold);
        double accuracy = (tp + diff.Count - fp) / (double)distances.Count;
        var (bestT, bestAcc) = BestThreshold(distances, threshold);
        return new FaceVerificationReport(
            pairsName, weights, threshold, same.Count, diff.Count, accuracy,
            same.Count > 0 ? tp / (double)same.Count : double.NaN,
            diff.Count > 0 ? fp / (double)diff.Count : double.NaN,
            same.Count > 0 ? same.Average(d => d.Distance) : double.NaN,
            diff.Count > 0 ? diff.Average(d => d.Distance) : double.NaN,
            bestT, bestAcc, DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), distances);
    }

    /// <summary>
    /// The threshold with the highest accuracy: candidates are midpoints between consecutive distinct
    /// distances (and points just outside the range); ties go to the candidate nearest <paramref name="preferred"/>.
    /// </summary>
    public static (double Threshold, double Accuracy) BestThreshold(IReadOnlyList<FacePairDistance> distances, double preferred = FaceRecognitionNet.DefaultThreshold)
    {
        var sorted = distances.OrderBy(d => d.Distance).ToList();
        int n = sorted.Count;
        // Threshold below every distance: everything rejected, the different pairs are right.
        int correct = sorted.Count(d => !d.Same);
        double bestT = sorted[0].Distance - 1e-6, bestAcc = correct / (double)n;
        int k = 0;
        while (k < n)
        {
            double v = sorted[k].Distance;
            // Move every pair at distance v to "accepted".
            while (k < n && sorted[k].Distance == v) { correct += sorted[k].Same ? 1 : -1; k++; }
            double t = k < n ? (v + sorted[k].Distance) / 2 : v + 1e-6;
            double acc = correct / (double)n;
            if (acc > bestAcc || (acc == bestAcc && Math.Abs(t - preferred) < Math.Abs(bestT - preferred))) { bestT = t; bestAcc = acc; }
        }
        return (bestT, bestAcc);
    }
}
