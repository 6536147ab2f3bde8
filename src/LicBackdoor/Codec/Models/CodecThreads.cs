using TorchSharp;

namespace LicBackdoor.Codec.Models;

/// <summary>
/// Runs the coding paths (<see cref="CompressionModel.Compress"/> and <see cref="CompressionModel.Decompress"/>: g_a, h_a,
/// h_s, the CDF indexes or context model, and g_s) on a fixed number of libtorch threads, whatever the process's thread
/// count. libtorch's convolutions sum in an order that depends on the thread count, so the same image gives floats that
/// differ in the last bits between a process on 1 thread and one on 2: g_a can then round a latent the other way (another
/// valid bitstream), g_s can move a pixel by one grey level after 8-bit rounding, and, worst, h_s(ẑ) can put a scale on
/// the other side of a scale-table boundary so that the decoder picks another CDF than the encoder did and rANS
/// desynchronises (CompressAI issues #279, #309, #320). On a fixed thread count the same operations give the same floats
/// on the same machine, so bitstreams and decoded pixels do not depend on <c>--threads</c> (docs/ROBUSTNESS.md §4
/// measures this). Training and the differentiable forward pass use the process's count.
/// </summary>
public static class CodecThreads
{
    private static readonly object Gate = new();
    private static int count = DefaultCount;

    /// <summary>
    /// The default of <see cref="Count"/>: 2, the core count of the machines this project is sized for, so coding keeps
    /// both cores while a <c>--threads 1</c> process and a <c>--threads 2</c> process write the same bytes.
    /// </summary>
    public const int DefaultCount = 2;

    /// <summary>
    /// libtorch threads of the coding paths (default <see cref="DefaultCount"/>). Bitstreams and decoded pixels are
    /// reproducible across processes that use the same value, whatever their own thread counts; another value gives
    /// equally valid bitstreams that may differ in a few latents.
    /// </summary>
    public static int Count
    {
        get => count;
        set => count = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "the coding paths need at least one thread");
    }

    /// <summary>Runs <paramref name="body"/> with libtorch on <see cref="Count"/> threads and restores the thread count.</summary>
    /// <remarks>Calls from several .NET threads are serialised (libtorch's thread count is process-wide).</remarks>
    public static T Run<T>(Func<T> body)
    {
        lock (Gate)
        {
            int threads = torch.get_num_threads(), wanted = count;
            if (threads == wanted) return body();
            torch.set_num_threads(wanted);
            try { return body(); }
            finally { torch.set_num_threads(threads); }
        }
    }
}
