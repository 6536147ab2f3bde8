using LicBackdoor.Backdoor.Triggers;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class FrequencyPositionsTests
{
    // method-spec §1.4, read from the authors' code (slot order).
    private static readonly int[] AsImplemented64 =
    [
        21, 34, 38, 51, 59, 72, 84, 97, 113, 126, 145, 155, 174, 180, 199, 201,
        35, 37, 52, 58, 73, 83, 98, 112, 127, 144, 156, 173, 181, 198, 202, 219,
        36, 53, 57, 74, 82, 99, 111, 128, 143, 157, 172, 182, 197, 203, 218, 220,
        54, 56, 75, 81, 100, 110, 129, 142, 158, 171, 183, 196, 204, 217, 221, 234,
    ];

    private static readonly int[] AsImplemented16 = [127, 144, 156, 173, 181, 198, 202, 219, 36, 53, 57, 74, 82, 99, 111, 128];

    [Fact]
    public void ZigzagRanksAreJpegOrder()
    {
        var r = FrequencyPositions.ZigzagRanks();
        Assert.Equal(new[] { 0, 1, 5, 6, 14, 15, 27, 28, 44, 45, 65, 66, 90, 91, 119, 120 }, r[..16]);
        Assert.Equal(new[] { 2, 4, 7, 13, 16, 26, 29, 43, 46, 64, 67, 89, 92, 118, 121, 150 }, r[16..32]);
        Assert.Equal(new[] { 135, 136, 164, 165, 189, 190, 210, 211, 227, 228, 240, 241, 249, 250, 254, 255 }, r[240..]);
        Assert.Equal(Enumerable.Range(0, 256), r.Order());
        Assert.Equal(new[] { 0, 1, 5, 2, 4, 6, 3, 7, 8 }, FrequencyPositions.ZigzagRanks(3));
    }

    [Fact]
    public void AsImplementedSetsAreTheAuthorsPositions()
    {
        Assert.Equal(AsImplemented64, FrequencyPositions.Positions(FrequencySet.AsImplemented, 64));
        Assert.Equal(AsImplemented16, FrequencyPositions.Positions(FrequencySet.AsImplemented, 16));
        Assert.Equal(Enumerable.Range(0, 256), FrequencyPositions.Positions(FrequencySet.AsImplemented, 256).Order());
    }

    [Fact]
    public void ZigzagBandIsTheMiddleRanksInOrder()
    {
        var ranks = FrequencyPositions.ZigzagRanks();
        var band = FrequencyPositions.Positions(FrequencySet.ZigzagBand, 64);
        Assert.Equal(Enumerable.Range(96, 64), band.Select(p => ranks[p]));
        Assert.All(band, p => Assert.InRange(p / 16 + p % 16, 13, 17));
        // the mask rows of method-spec §1.4: row 0 has columns 14-15, row 5 columns 8-12, row 15 columns 0-1
        Assert.Equal(new[] { 14, 15 }, band.Where(p => p / 16 == 0).Select(p => p % 16).Order());
        Assert.Equal(new[] { 8, 9, 10, 11, 12 }, band.Where(p => p / 16 == 5).Select(p => p % 16).Order());
        Assert.Equal(new[] { 0, 1 }, band.Where(p => p / 16 == 15).Select(p => p % 16).Order());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(257)]
    public void RejectsCountsOutside1To256(int n) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => FrequencyPositions.Positions(FrequencySet.AsImplemented, n));
}
