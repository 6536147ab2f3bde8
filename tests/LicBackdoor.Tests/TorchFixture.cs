using LicBackdoor.Runtime;
using TorchSharp;

namespace LicBackdoor.Tests;

/// <summary>
/// Base for tests that use libtorch: tunes the allocator once, seeds the global generator, and runs each test inside a
/// dispose scope. The scope keeps every tensor the test creates reachable until the test ends (an unreachable tensor
/// can be finalised while a native call still reads it) and frees them all afterwards.
/// </summary>
public abstract class TorchTest : IDisposable
{
    private readonly DisposeScope scope;

    protected TorchTest()
    {
        NativeSetup.Initialize();
        torch.random.manual_seed(1234);
        scope = torch.NewDisposeScope();
    }

    public void Dispose()
    {
        try { DisposeTest(); }
        finally { scope.Dispose(); }
        GC.SuppressFinalize(this);
    }

    /// <summary>Per-test clean-up of derived classes (temporary folders); runs before the scope is disposed.</summary>
    protected virtual void DisposeTest() { }
}
