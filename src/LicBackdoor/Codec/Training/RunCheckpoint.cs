using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Training;

/// <summary>
/// The checkpoint file of a resumable run, shared by the codec, attack and segmentation trainers: the run's tensors and
/// metadata plus libtorch's generator state (<c>rng.torch</c>), so a resumed run draws the same random numbers.
/// </summary>
internal static class RunCheckpoint
{
    private const string TorchRngKey = "rng.torch";

    /// <summary>Writes <paramref name="tensors"/> and <paramref name="metadata"/> with the current libtorch generator state, atomically.</summary>
    public static void Save(string path, Dictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var torchRng = random.get_rng_state();
        tensors[TorchRngKey] = torchRng;
        try { Safetensors.Save(path, tensors, metadata); }
        finally { tensors.Remove(TorchRngKey); }
    }

    /// <summary>Restores the libtorch generator state a checkpoint holds.</summary>
    /// <exception cref="KeyNotFoundException">The checkpoint has no generator state.</exception>
    public static void RestoreTorchRng(IReadOnlyDictionary<string, Tensor> tensors) => random.set_rng_state(tensors[TorchRngKey]);
}
