using TorchSharp;

namespace LicBackdoor.Codec.Models;

/// <summary>
/// Runs the entropy-parameter path of compress and decompress (h_s and what turns its output into CDF indexes or
/// means and scales) on one libtorch thread, whatever the process's thread count. libtorch's convolutions sum in an
/// order that depends on the thread count, so h_s(ẑ) can differ in the last float bit between an encoder on 2 threads
/// and a decoder on 1; a scale that falls on the other side of a scale-table boundary selects another CDF and the
/// rANS decoder desynchronises (CompressAI issues #279, #309, #320). On one thread the same operations give the same
/// floats on the same machine, so the indexes agree. The tensors involved are small (latent resolution, 1/16 or 1/64 of
/// the pixels), so this costs little; the transforms g_a and g_s keep every thread (their float results may differ
/// between thread counts, which changes pixels by float rounding only, never the decoding).
/// </summary>
internal static class EntropyParameterThreads
{
    private static readonly object Gate = new();

    /// <summary>Runs <paramref name="body"/> with libtorch on one thread and restores the thread count.</summary>
    public static T Run<T>(Func<T> body)
    {
        lock (Gate)
        {
            int threads = torch.get_num_threads();
            if (threads == 1) return body();
            torch.set_num_threads(1);
            try { return body(); }
            finally { torch.set_num_threads(threads); }
        }
    }
}
