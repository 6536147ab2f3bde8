using System.Runtime;

namespace LicBackdoor.Runtime;

/// <summary>
/// Holds garbage collection off for a section of tensor work (one training step, one evaluated image).
/// <para>
/// TorchSharp hands native handles to libtorch without keeping the managed objects alive. Tensors are kept alive by
/// dispose scopes, but the temporary <c>Scalar</c>s made by implicit conversions (<c>x * 255f</c>, and the
/// <c>alpha = 1</c> TorchSharp passes inside every <c>a + b</c>) are referenced by nothing once their handle is read.
/// A collection triggered by another thread (the test runner, the runtime's own workers) while libtorch still
/// reads such a scalar lets the finalizer thread free it under the call: "Unknown scalar type", "alpha must not be
/// a floating point number", or worse. Inside a no-GC region no collection runs at all, so such a window cannot
/// open; collections happen between sections, when the section's thread is back in managed code and every scalar
/// it used is finished with.
/// </para>
/// <para>
/// Entering performs one blocking collection when the heap needs room (a few milliseconds on this project's small
/// managed heap); if a section allocates more than <see cref="DefaultBudget"/>, the runtime collects and leaves
/// the region early, which is no worse than not having entered it. Nested sections share the outermost region.
/// </para>
/// </summary>
public static class GcQuiet
{
    /// <summary>Managed bytes a section may allocate before the runtime ends the region (tensor data is native).</summary>
    public const long DefaultBudget = 64L << 20;

    private static readonly object Gate = new();
    private static int depth;
    private static bool owned;

    /// <summary>Sections entered so far that got a region (for tests and diagnostics).</summary>
    public static long RegionsEntered { get; private set; }

    /// <summary>Starts a section; dispose the result to end it.</summary>
    public static Section Enter(long budget = DefaultBudget)
    {
        lock (Gate)
        {
            if (depth++ == 0)
            {
                owned = false;
                if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
                {
                    try
                    {
                        owned = GC.TryStartNoGCRegion(budget);
                    }
                    catch (InvalidOperationException)
                    {
                        owned = false;   // another component holds a region
                    }
                    catch (ArgumentOutOfRangeException)
                    {
                        owned = false;   // budget above what this runtime allows
                    }
                }
                if (owned) RegionsEntered++;
            }
        }
        return new Section(true);
    }

    private static void Exit()
    {
        lock (Gate)
        {
            if (--depth > 0 || !owned) return;
            owned = false;
            if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
            {
                try
                {
                    GC.EndNoGCRegion();
                }
                catch (InvalidOperationException)
                {
                    // the runtime already ended the region (budget exceeded or a collection was induced)
                }
            }
        }
    }

    /// <summary>An entered section; disposing it ends the section (once).</summary>
    public struct Section(bool active) : IDisposable
    {
        private bool active = active;

        public void Dispose()
        {
            if (!active) return;
            active = false;
            Exit();
        }
    }
}
