namespace LicBackdoor.Backdoor.Triggers;

/// <summary>Which 16×16 DCT positions make up the N "middle frequencies" of the frequency trigger (method-spec §1.4).</summary>
public enum FrequencySet
{
    /// <summary>
    /// The positions the authors' code actually triggers: <c>IDX[128−N/2 : 128−N/2+N]</c> with IDX the raster→zig-zag
    /// rank map, whose values are then used as raster positions (the map is indexed the wrong way round). For N = 64
    /// these are scattered blobs with u+v between 4 and 26. The default, to match the published numbers.
    /// </summary>
    AsImplemented,

    /// <summary>The evident intent: the raster positions whose zig-zag rank lies in [128−N/2, 128−N/2+N) (an anti-diagonal band).</summary>
    ZigzagBand,
}

/// <summary>The zig-zag order of a square DCT block and the candidate trigger positions of <see cref="FrequencySet"/>.</summary>
public static class FrequencyPositions
{
    /// <summary>The DCT block size of the frequency trigger (method-spec §1.2).</summary>
    public const int BlockSize = 16;

    /// <summary>Number of coefficients in a block.</summary>
    public const int Coefficients = BlockSize * BlockSize;

    /// <summary>
    /// JPEG's zig-zag rank of every raster position of an n×n block: <c>ranks[r·n + c]</c>. Rank 0 is (0,0), then
    /// (0,1), (1,0), (2,0), (1,1), (0,2), …: odd anti-diagonals run down-left, even ones up-right. For n = 16 this
    /// is the authors' <c>zigzag_indices</c> table.
    /// </summary>
    public static int[] ZigzagRanks(int n = BlockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var ranks = new int[n * n];
        int rank = 0;
        for (int s = 0; s <= 2 * (n - 1); s++)
        {
            int lo = Math.Max(0, s - n + 1), hi = Math.Min(s, n - 1);
            if (s % 2 == 0)
                for (int r = hi; r >= lo; r--) ranks[r * n + (s - r)] = rank++;
            else
                for (int r = lo; r <= hi; r++) ranks[r * n + (s - r)] = rank++;
        }
        return ranks;
    }

    /// <summary>
    /// The raster positions (<c>16·row + col</c>) of the <paramref name="count"/> candidate frequencies, in slot order:
    /// slot j of the general trigger's value vector goes to position <c>result[j]</c>. All distinct.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not in 1..256.</exception>
    public static int[] Positions(FrequencySet set, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Coefficients);
        int start = Coefficients / 2 - count / 2;
        var ranks = ZigzagRanks();
        switch (set)
        {
            case FrequencySet.AsImplemented:
                return ranks.AsSpan(start, count).ToArray();
            case FrequencySet.ZigzagBand:
                var byRank = new int[Coefficients];
                for (int p = 0; p < Coefficients; p++) byRank[ranks[p]] = p;
                return byRank.AsSpan(start, count).ToArray();
            default:
                throw new ArgumentOutOfRangeException(nameof(set), set, "unknown frequency set");
        }
    }
}
