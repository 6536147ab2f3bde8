using LicBackdoor.Weights;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>
/// Saves and loads a trigger's state dict as safetensors (<see cref="Safetensors"/>), with its name and options
/// (<see cref="ITrigger.Configuration"/>) in the metadata. Loading is strict (<see cref="StateDict.Load"/>): every
/// key and shape must match the trigger built with the same options, and the values are copied bit for bit.
/// </summary>
public static class TriggerWeights
{
    /// <summary>Metadata key holding <see cref="ITrigger.Name"/>.</summary>
    public const string NameKey = "licb.trigger";

    /// <summary>Metadata key holding <see cref="ITrigger.Configuration"/>.</summary>
    public const string ConfigurationKey = "licb.trigger.options";

    /// <summary>Writes the trigger's state dict (parameters and BatchNorm statistics) atomically.</summary>
    public static void Save(ITrigger trigger, string path)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        var meta = new Dictionary<string, string> { [NameKey] = trigger.Name, [ConfigurationKey] = trigger.Configuration };
        Safetensors.Save(path, trigger.Module.state_dict(), meta);
    }

    /// <summary>Reads <paramref name="path"/> into <paramref name="trigger"/>.</summary>
    /// <exception cref="CheckpointFormatException">The file is unreadable, belongs to another kind of trigger, or does not fit.</exception>
    public static void Load(ITrigger trigger, string path)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        var (tensors, meta) = Safetensors.Load(path);
        string file = Path.GetFileName(path);
        if (meta.TryGetValue(NameKey, out var name) && name != trigger.Name)
            throw new CheckpointFormatException($"{file}: holds a '{name}' trigger, not a '{trigger.Name}' one", file);
        StateDict.Load(trigger.Module, tensors, file);
    }
}
