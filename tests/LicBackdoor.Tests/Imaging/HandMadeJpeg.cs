namespace LicBackdoor.Tests.Imaging;

/// <summary>
/// Writes minimal baseline JPEGs by hand (SkiaSharp cannot write CMYK or 1-component JPEGs): every 8x8 block of a
/// component is flat (DC only, quantiser 1), so a file is a few hundred bytes. With 4 components an Adobe APP14
/// marker (transform 0) declares CMYK; the values are stored as given (Adobe's convention: inverted CMYK).
/// With <c>omitScan</c> the file ends after the scan header: headers declaring any size without pixel data.
/// </summary>
internal static class HandMadeJpeg
{
    public static byte[] Flat(int width, int height, byte[] componentValues, bool omitScan = false)
    {
        int nc = componentValues.Length;
        var o = new List<byte> { 0xFF, 0xD8 };
        void Segment(byte marker, params byte[] body)
        {
            o.Add(0xFF); o.Add(marker);
            int len = body.Length + 2;
            o.Add((byte)(len >> 8)); o.Add((byte)len);
            o.AddRange(body);
        }
        if (nc == 4) Segment(0xEE, [.. "Adobe"u8, 0, 100, 0, 0, 0, 0, 0]); // APP14, transform 0: CMYK
        Segment(0xDB, [0x00, .. Enumerable.Repeat((byte)1, 64)]);           // DQT 0: all ones
        var sof = new List<byte> { 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, (byte)nc };
        for (int c = 0; c < nc; c++) sof.AddRange(new byte[] { (byte)(c + 1), 0x11, 0 });
        Segment(0xC0, [.. sof]);                                            // SOF0 baseline
        {
            // DC table 0: categories 0..11, all with 4-bit codes (canonical: category k -> code k). AC table 0: EOB only, code "0".
            Segment(0xC4, [0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .. Enumerable.Range(0, 12).Select(i => (byte)i)]);
            Segment(0xC4, [0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
            var sos = new List<byte> { (byte)nc };
            for (int c = 0; c < nc; c++) sos.AddRange(new byte[] { (byte)(c + 1), 0x00 });
            sos.AddRange(new byte[] { 0, 63, 0 });
            Segment(0xDA, [.. sos]);
            if (omitScan) { o.Add(0xFF); o.Add(0xD9); return [.. o]; }
            var bits = new BitWriter();
            int blocks = (width + 7) / 8 * ((height + 7) / 8);
            var prev = new int[nc];
            for (int b = 0; b < blocks; b++)
                for (int c = 0; c < nc; c++)
                {
                    int dc = 8 * (componentValues[c] - 128);
                    int diff = dc - prev[c];
                    prev[c] = dc;
                    int cat = diff == 0 ? 0 : 32 - int.LeadingZeroCount(Math.Abs(diff));
                    bits.Write(cat, 4);
                    if (cat > 0) bits.Write(diff > 0 ? diff : diff + (1 << cat) - 1, cat);
                    bits.Write(0, 1); // EOB
                }
            o.AddRange(bits.Finish());
        }
        o.Add(0xFF); o.Add(0xD9);
        return [.. o];
    }

    private sealed class BitWriter
    {
        private readonly List<byte> bytes = [];
        private int acc, n;

        public void Write(int value, int count)
        {
            for (int i = count - 1; i >= 0; i--)
            {
                acc = (acc << 1) | ((value >> i) & 1);
                if (++n == 8) Flush();
            }
        }

        private void Flush()
        {
            bytes.Add((byte)acc);
            if (acc == 0xFF) bytes.Add(0x00); // byte stuffing
            acc = 0; n = 0;
        }

        public byte[] Finish()
        {
            while (n != 0) Write(1, 1); // pad with ones
            return [.. bytes];
        }
    }
}
