using LicBackdoor.Runtime;

namespace LicBackdoor.Tests;

/// <summary>Base for tests that use libtorch: tunes the allocator once and seeds the global generator.</summary>
public abstract class TorchTest
{
    protected TorchTest()
    {
        NativeSetup.Initialize();
        TorchSharp.torch.random.manual_seed(1234);
    }
}
