using System.Runtime;
using LicBackdoor.Runtime;

namespace LicBackdoor.Tests;

public class GcQuietTests
{
    [Fact]
    public void NoCollectionRunsInsideASectionAndNestedSectionsShareIt()
    {
        long before = GcQuiet.RegionsEntered;
        int gen0;
        using (GcQuiet.Enter())
        {
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            gen0 = GC.CollectionCount(0);
            var keep = new object[16];
            for (int i = 0; i < 100_000; i++) keep[i & 15] = new byte[64];   // ~8 MB, well inside the budget
            using (GcQuiet.Enter()) Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);   // the inner section did not end the region
            Assert.Equal(gen0, GC.CollectionCount(0));
        }
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        Assert.Equal(before + 1, GcQuiet.RegionsEntered);
    }

    [Fact]
    public void ASectionThatOutgrowsItsBudgetEndsCleanly()
    {
        using (GcQuiet.Enter(budget: 1L << 20))
        {
            var keep = new object[64];
            for (int i = 0; i < 200_000; i++) keep[i & 63] = new byte[256];   // ~50 MB: the runtime collects and leaves the region
        }
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        using (GcQuiet.Enter()) Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);   // and the next section works
    }
}
