namespace LicBackdoor.Tests.IO;

/// <summary>What a SIGKILL during <see cref="AtomicFile.Write"/> leaves behind, and the clean-up resumed runs do.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-atomic-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AKilledWriterLeavesOnlyATemporaryThatResumeRemoves()
    {
        var target = Path.Combine(dir, "checkpoint.safetensors");
        AtomicFile.WriteAllText(target, "complete");
        // A writer killed mid-write: its temporary file, never the target, is incomplete.
        var leftover = Path.Combine(dir, ".checkpoint.safetensors.0123abcd.tmp");
        File.WriteAllText(leftover, "half");
        var unrelated = Path.Combine(dir, ".notes.tmp");
        File.WriteAllText(unrelated, "keep");
        Assert.True(AtomicFile.IsTemporary(leftover));
        Assert.False(AtomicFile.IsTemporary(unrelated));
        Assert.False(AtomicFile.IsTemporary(target));
        Assert.Equal(1, AtomicFile.RemoveStaleTemporaries(dir));
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(unrelated));
        Assert.Equal("complete", File.ReadAllText(target));
        Assert.Equal(0, AtomicFile.RemoveStaleTemporaries(Path.Combine(dir, "missing")));
    }

    [Fact]
    public void AFailedWriteLeavesTheTargetAndNoTemporary()
    {
        var target = Path.Combine(dir, "a.json");
        AtomicFile.WriteAllText(target, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(target, s => { s.WriteByte(1); throw new InvalidOperationException("boom"); }));
        Assert.Equal("old", File.ReadAllText(target));
        Assert.Single(Directory.GetFiles(dir));
    }
}
