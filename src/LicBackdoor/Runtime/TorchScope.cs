using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Runtime;

/// <summary>
/// Keeps construction temporaries reachable. A TorchSharp tensor nobody references any more can be finalised on the
/// finalizer thread while a native call that was handed its pointer still runs (TorchSharp passes raw handles and does
/// not keep the managed object alive), and the call then reads freed memory. Inside a dispose scope every new tensor is
/// referenced by the scope until the scope ends, which closes that window.
/// </summary>
public static class TorchScope
{
    /// <summary>
    /// Runs <paramref name="make"/> inside a dispose scope and keeps the module's parameters and buffers out of it:
    /// every temporary of the construction is freed when it returns, the module's own tensors are not.
    /// </summary>
    public static T Build<T>(Func<T> make) where T : nn.Module
    {
        ArgumentNullException.ThrowIfNull(make);
        using var scope = NewDisposeScope();
        var module = make();
        scope.Detach(module.parameters());
        scope.Detach(module.buffers());
        return module;
    }
}
