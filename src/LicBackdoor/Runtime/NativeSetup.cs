using System.Runtime.InteropServices;
using TorchSharp;

namespace LicBackdoor.Runtime;

/// <summary>
/// One-time process set-up for every entry point (CLI, tests, benchmarks): glibc allocator tuning and
/// libtorch thread count. glibc otherwise returns freed tensor memory to the kernel every iteration and
/// the fresh pages come back as page faults; keeping the heap makes training 3-4x faster on this
/// machine kind (measured in the shared torchsharp notes). Cost: resident memory stays at the peak.
/// </summary>
public static class NativeSetup
{
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;
    private const int M_MMAP_MAX = -4;
    private static readonly object Gate = new();
    private static bool _done;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int param, int value);

    /// <summary>True once <see cref="Initialize"/> has tuned the allocator successfully.</summary>
    public static bool AllocatorTuned { get; private set; }

    /// <summary>Tunes the allocator and sets the libtorch thread count (null keeps libtorch's default).</summary>
    public static void Initialize(int? threads = null)
    {
        lock (Gate)
        {
            if (!_done)
            {
                _done = true;
                if (OperatingSystem.IsLinux())
                {
                    try
                    {
                        bool ok = Mallopt(M_MMAP_MAX, 0) == 1;
                        ok &= Mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
                        ok &= Mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
                        AllocatorTuned = ok;
                    }
                    catch (DllNotFoundException) { }
                    catch (EntryPointNotFoundException) { }
                }
            }
            if (threads is int t)
            {
                if (t < 1) throw new ArgumentOutOfRangeException(nameof(threads), "thread count must be at least 1");
                torch.set_num_threads(t);
            }
        }
    }
}
