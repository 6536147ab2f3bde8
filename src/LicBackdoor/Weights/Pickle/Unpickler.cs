using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace LicBackdoor.Weights.Pickle;

/// <summary>
/// A restricted pickle virtual machine for the opcodes <c>torch.save</c> emits (protocols 2-5, plus the
/// binary protocol 1 opcodes and a few harmless protocol 0 ones). It builds plain data only:
/// <see cref="PickleDict"/>, <c>List&lt;object?&gt;</c>, tuples as <c>object?[]</c>, <see cref="string"/>,
/// <see cref="long"/> (<see cref="BigInteger"/> beyond 64 bits), <see cref="double"/>, <see cref="bool"/>,
/// null, <c>byte[]</c>, and the placeholders <see cref="StorageView"/> / <see cref="TensorSpec"/>.
/// Globals go through the allow-list in <see cref="PickleGlobals"/>; REDUCE, NEWOBJ and BUILD act only on
/// allow-listed kinds, implemented here. Every length is checked against the bytes left in the stream
/// before anything is allocated, and tuples nest at most <see cref="MaxDepth"/> levels.
/// </summary>
internal sealed class Unpickler
{
    /// <summary>Deepest nesting of containers accepted (a state dict needs 3 or 4).</summary>
    public const int MaxDepth = 64;

    /// <summary>Longest text line (GLOBAL names, protocol 0 numbers).</summary>
    private const int MaxLine = 4096;

    /// <summary>Most dimensions a tensor may have.</summary>
    private const int MaxDims = 64;

    private readonly Stream input;
    private readonly string file;
    private readonly Func<object?, object?>? persistentLoad;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private readonly Dictionary<object?[], int> tupleDepth = new(ReferenceEqualityComparer.Instance);
    private long opcodeStart;

    /// <param name="input">A seekable stream positioned at the pickle; it is read up to and including STOP.</param>
    /// <param name="file">File name for error messages.</param>
    /// <param name="persistentLoad">Resolves persistent ids (torch storages); null refuses them.</param>
    public Unpickler(Stream input, string file, Func<object?, object?>? persistentLoad)
    {
        if (!input.CanSeek) throw new ArgumentException("the pickle stream must be seekable", nameof(input));
        this.input = input;
        this.file = file;
        this.persistentLoad = persistentLoad;
    }

    private long Remaining => input.Length - input.Position;

    private CheckpointFormatException Bad(string what) =>
        new($"{file}: invalid pickle at byte {opcodeStart}: {what}", file);

    /// <summary>Runs the pickle up to its STOP opcode and returns the object it built.</summary>
    public object? Load()
    {
        while (true)
        {
            opcodeStart = input.Position;
            int op = input.ReadByte();
            if (op < 0) throw Bad("the data ends without a STOP opcode (truncated, or not a pickle)");
            switch (op)
            {
                case 0x80: // PROTO
                {
                    int proto = ReadU8();
                    if (proto > 5) throw Bad($"pickle protocol {proto} is not supported (0-5)");
                    break;
                }
                case 0x95: // FRAME: a length hint only
                {
                    ulong n = BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));
                    if (n > (ulong)Remaining) throw Bad($"frame of {n} bytes is longer than the {Remaining} bytes left");
                    break;
                }
                case '.': // STOP
                    return Pop();

                // ---- numbers and constants
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;   // BININT
                case 'K': Push((long)ReadU8()); break;                                                 // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;  // BININT2
                case 0x8a: Push(ReadLong(ReadU8())); break;                                            // LONG1
                case 0x8b: Push(ReadLong(ReadLength(4, 1 << 16))); break;                              // LONG4
                case 'I': Push(ParseIntLine(ReadLine())); break;                                       // INT
                case 'L': Push(ParseLongLine(ReadLine())); break;                                      // LONG
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;            // BINFLOAT
                case 'F': Push(ParseFloatLine(ReadLine())); break;                                     // FLOAT
                case 'N': Push(null); break;                                                            // NONE
                case 0x88: Push(true); break;                                                           // NEWTRUE
                case 0x89: Push(false); break;                                                          // NEWFALSE

                // ---- strings and bytes
                case 'X': Push(ReadUtf8(ReadLength(4))); break;                                         // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadU8())); break;                                             // SHORT_BINUNICODE
                case 0x8d: Push(ReadUtf8(ReadLength(8))); break;                                        // BINUNICODE8
                case 'T': Push(ReadUtf8(ReadSignedLength4())); break;                                   // BINSTRING (Python 2 str, read as UTF-8 like torch.load)
                case 'U': Push(ReadUtf8(ReadU8())); break;                                              // SHORT_BINSTRING
                case 'B': Push(ReadBytes(ReadLength(4))); break;                                        // BINBYTES
                case 'C': Push(ReadBytes(ReadU8())); break;                                             // SHORT_BINBYTES
                case 0x8e: Push(ReadBytes(ReadLength(8))); break;                                       // BINBYTES8
                case 0x96: Push(ReadBytes(ReadLength(8))); break;                                       // BYTEARRAY8

                // ---- tuples, lists, dicts
                case '(': marks.Push(stack.Count); break;                                               // MARK
                case ')': Push(MakeTuple([])); break;                                                   // EMPTY_TUPLE
                case 't': Push(MakeTuple(PopMark())); break;                                            // TUPLE
                case 0x85: Push(MakeTuple(PopN(1))); break;                                             // TUPLE1
                case 0x86: Push(MakeTuple(PopN(2))); break;                                             // TUPLE2
                case 0x87: Push(MakeTuple(PopN(3))); break;                                             // TUPLE3
                case ']': Push(new List<object?>()); break;                                             // EMPTY_LIST
                case 'l': Push(new List<object?>(PopMark())); break;                                    // LIST
                case 'a': { var v = Pop(); TargetList().Add(v); break; }                                // APPEND
                case 'e': { var items = PopMark(); TargetList().AddRange(items); break; }              // APPENDS
                case '}': Push(new PickleDict()); break;                                                // EMPTY_DICT
                case 'd': { var d = new PickleDict(); SetItems(d, PopMark()); Push(d); break; }        // DICT
                case 's': { var v = Pop(); var k = Pop(); SetItem(TargetDict(), k, v); break; }        // SETITEM
                case 'u': { var items = PopMark(); SetItems(TargetDict(), items); break; }             // SETITEMS

                // ---- stack and memo
                case '0': if (stack.Count > CurrentMarkBase) stack.RemoveAt(stack.Count - 1); else PopMark(); break; // POP
                case '1': PopMark(); break;                                                             // POP_MARK
                case '2': Push(Peek()); break;                                                          // DUP
                case 'g': Push(MemoGet(ParseMemoKey(ReadLine()))); break;                              // GET
                case 'h': Push(MemoGet(ReadU8())); break;                                               // BINGET
                case 'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
                case 'p': memo[ParseMemoKey(ReadLine())] = Peek(); break;                              // PUT
                case 'q': memo[ReadU8()] = Peek(); break;                                               // BINPUT
                case 'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break;  // LONG_BINPUT
                case 0x94: memo[memo.Count] = Peek(); break;                                            // MEMOIZE

                // ---- globals and calls
                case 'c': // GLOBAL
                {
                    string module = ReadLine(), name = ReadLine();
                    Push(PickleGlobals.Resolve(module, name, file));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop();
                    var module = Pop();
                    if (module is not string m || name is not string n)
                        throw Bad($"STACK_GLOBAL needs two strings, got {Describe(module)} and {Describe(name)}");
                    Push(PickleGlobals.Resolve(m, n, file));
                    break;
                }
                case 'R': // REDUCE
                {
                    var args = Pop();
                    var callable = Pop();
                    Push(Call(callable, args));
                    break;
                }
                case 0x81: // NEWOBJ
                {
                    Pop(); // args
                    Push(NewObject(Pop()));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    Pop(); // kwargs
                    Pop(); // args
                    Push(NewObject(Pop()));
                    break;
                }
                case 'b': // BUILD
                {
                    var state = Pop();
                    var target = Peek();
                    if (target is PickleDict d) d.State = state;
                    else throw Bad($"BUILD on {Describe(target)} is not supported (only dicts take state)");
                    break;
                }
                case 'Q': Push(PersistentLoad(Pop())); break;        // BINPERSID
                case 'P': Push(PersistentLoad(ReadLine())); break;   // PERSID

                // ---- refused: they instantiate arbitrary classes or reach outside the pickle
                case 'i': // INST
                {
                    string module = ReadLine(), name = ReadLine();
                    var g = PickleGlobals.Resolve(module, name, file);
                    throw Bad($"the INST opcode (instantiating {g.FullName}) is not supported");
                }
                case 'o': throw Bad("the OBJ opcode (instantiating a class) is not supported");
                case 0x82 or 0x83 or 0x84: throw Bad("extension-registry opcodes (EXT1/EXT2/EXT4) are not supported");
                case 0x97 or 0x98: throw Bad("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported");
                case 'S' or 'V': throw Bad("protocol 0 text strings (STRING/UNICODE) are not supported");
                case 0x8f or 0x90 or 0x91: throw Bad("sets (EMPTY_SET/ADDITEMS/FROZENSET) are not supported");
                default: throw Bad($"unknown opcode 0x{op:x2}");
            }
        }
    }

    // ------------------------------------------------------------------ stack

    private int CurrentMarkBase => marks.Count > 0 ? marks.Peek() : 0;

    private void Push(object? o) => stack.Add(o);

    private object? Pop()
    {
        if (stack.Count <= CurrentMarkBase) throw Bad("stack underflow");
        var o = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return o;
    }

    private object? Peek()
    {
        if (stack.Count <= CurrentMarkBase) throw Bad("stack underflow");
        return stack[^1];
    }

    private object?[] PopN(int n)
    {
        if (stack.Count - CurrentMarkBase < n) throw Bad("stack underflow");
        var items = stack.GetRange(stack.Count - n, n).ToArray();
        stack.RemoveRange(stack.Count - n, n);
        return items;
    }

    private object?[] PopMark()
    {
        if (marks.Count == 0) throw Bad("no MARK on the stack");
        int start = marks.Pop();
        var items = stack.GetRange(start, stack.Count - start).ToArray();
        stack.RemoveRange(start, stack.Count - start);
        return items;
    }

    private object? MemoGet(long key) =>
        memo.TryGetValue(key, out var v) ? v : throw Bad($"memo entry {key} was never stored");

    private List<object?> TargetList() =>
        Peek() is List<object?> list ? list : throw Bad($"APPEND to {Describe(Peek())}, not a list");

    private PickleDict TargetDict() =>
        Peek() is PickleDict d ? d : throw Bad($"SETITEM on {Describe(Peek())}, not a dict");

    private void SetItem(PickleDict d, object? key, object? value)
    {
        if (!PickleDict.IsHashable(key)) throw Bad($"dict key {Describe(key)} is not supported");
        d.Set(key!, value);
    }

    private void SetItems(PickleDict d, object?[] items)
    {
        if (items.Length % 2 != 0) throw Bad("odd number of items for a dict");
        for (int i = 0; i < items.Length; i += 2) SetItem(d, items[i], items[i + 1]);
    }

    /// <summary>Tuples are immutable, so their nesting depth is known (and bounded) when they are made.</summary>
    private object?[] MakeTuple(object?[] items)
    {
        int depth = 1;
        foreach (var item in items)
            if (item is object?[] inner && tupleDepth.TryGetValue(inner, out int d)) depth = Math.Max(depth, d + 1);
        if (depth > MaxDepth) throw Bad($"tuples nested deeper than {MaxDepth} levels");
        tupleDepth[items] = depth;
        return items;
    }

    // ------------------------------------------------------------------ input

    private int ReadU8()
    {
        int b = input.ReadByte();
        return b >= 0 ? b : throw Bad("the data ends inside an opcode (truncated)");
    }

    private byte[] ReadBytes(long n)
    {
        if (n < 0 || n > Remaining) throw Bad($"a length of {n} bytes runs past the end of the data ({Remaining} bytes left)");
        var buf = new byte[n];
        input.ReadExactly(buf);
        return buf;
    }

    /// <summary>An unsigned little-endian length of <paramref name="width"/> bytes, checked against the data left.</summary>
    private long ReadLength(int width, long cap = long.MaxValue)
    {
        var b = ReadBytes(width);
        ulong n = width switch
        {
            1 => b[0],
            4 => BinaryPrimitives.ReadUInt32LittleEndian(b),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(b),
        };
        if (n > (ulong)Remaining || n > (ulong)Array.MaxLength || n > (ulong)cap)
            throw Bad($"a length of {n} bytes runs past the end of the data ({Remaining} bytes left)");
        return (long)n;
    }

    private long ReadSignedLength4()
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));
        if (n < 0 || n > Remaining) throw Bad($"a length of {n} bytes runs past the end of the data ({Remaining} bytes left)");
        return n;
    }

    private string ReadUtf8(long n)
    {
        var bytes = ReadBytes(n);
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Bad("a string is not valid UTF-8"); }
    }

    private object ReadLong(long n)
    {
        var bytes = ReadBytes(n);
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    private string ReadLine()
    {
        var sb = new StringBuilder();
        while (true)
        {
            int b = input.ReadByte();
            if (b < 0) throw Bad("the data ends inside a text line (truncated)");
            if (b == '\n') break;
            if (sb.Length >= MaxLine) throw Bad($"a text line is longer than {MaxLine} bytes");
            if (b >= 0x80) throw Bad("a text line holds non-ASCII bytes");
            sb.Append((char)b);
        }
        return sb.ToString();
    }

    private object ParseIntLine(string line)
    {
        if (line == "00") return false;
        if (line == "01") return true;
        return ParseLongLine(line);
    }

    private object ParseLongLine(string line)
    {
        var digits = line.EndsWith('L') ? line[..^1] : line;
        if (digits.Length == 0 || digits.Length > 1000 || !BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw Bad($"'{PickleGlobals.Printable(line)}' is not an integer");
        return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    }

    private double ParseFloatLine(string line) =>
        double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
            : throw Bad($"'{PickleGlobals.Printable(line)}' is not a float");

    private long ParseMemoKey(string line) =>
        long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw Bad($"'{PickleGlobals.Printable(line)}' is not a memo key");

    // ------------------------------------------------------------------ calls

    private object? PersistentLoad(object? pid) =>
        persistentLoad is null ? throw Bad("a persistent id (storage reference) is not allowed in this pickle")
            : persistentLoad(pid);

    private PickleDict NewObject(object? cls) => cls switch
    {
        PickleGlobal { Kind: GlobalKind.OrderedDict } => new PickleDict(),
        PickleGlobal g => throw Bad($"{g.FullName} cannot be instantiated"),
        _ => throw Bad($"NEWOBJ on {Describe(cls)}"),
    };

    private object? Call(object? callable, object? argsObject)
    {
        if (callable is not PickleGlobal g) throw Bad($"REDUCE on {Describe(callable)}, which is not an allowed callable");
        if (argsObject is not object?[] args) throw Bad($"REDUCE arguments for {g.FullName} are {Describe(argsObject)}, not a tuple");
        switch (g.Kind)
        {
            case GlobalKind.OrderedDict:
            {
                var d = new PickleDict();
                if (args.Length == 0) return d;
                if (args.Length != 1) throw Bad("OrderedDict takes at most one argument");
                IEnumerable<object?> pairs = args[0] switch
                {
                    List<object?> l => l,
                    object?[] t => t,
                    PickleDict other => other.Select(kv => (object?)new object?[] { kv.Key, kv.Value }),
                    var x => throw Bad($"OrderedDict of {Describe(x)}"),
                };
                foreach (var p in pairs.ToList())
                {
                    var kv = p switch
                    {
                        object?[] { Length: 2 } t => t,
                        List<object?> { Count: 2 } l => l.ToArray(),
                        _ => throw Bad($"OrderedDict item {Describe(p)} is not a key/value pair"),
                    };
                    SetItem(d, kv[0], kv[1]);
                }
                return d;
            }
            case GlobalKind.TorchSize:
                if (args.Length != 1) throw Bad("torch.Size takes one argument");
                return MakeTuple(Dims(args[0], "size"));
            case GlobalKind.CodecsEncode:
            {
                if (args.Length != 2 || args[0] is not string text || args[1] is not string encoding)
                    throw Bad("_codecs.encode takes a string and an encoding");
                if (encoding is not ("latin1" or "latin-1" or "iso-8859-1" or "ISO-8859-1"))
                    throw Bad($"_codecs.encode with encoding '{PickleGlobals.Printable(encoding)}' is not supported");
                if (text.Any(c => c > 0xFF)) throw Bad("_codecs.encode: a character is outside latin-1");
                return text.Select(c => (byte)c).ToArray();
            }
            case GlobalKind.RebuildTensorV2:
                if (args.Length is not (6 or 7)) throw Bad($"_rebuild_tensor_v2 takes 6 or 7 arguments, got {args.Length}");
                ExpectBool(args[4], "requires_grad");
                return MakeTensor(args[0], args[1], args[2], args[3]);
            case GlobalKind.RebuildTensor:
                if (args.Length != 4) throw Bad($"_rebuild_tensor takes 4 arguments, got {args.Length}");
                return MakeTensor(args[0], args[1], args[2], args[3]);
            case GlobalKind.RebuildParameter:
            case GlobalKind.RebuildParameterWithState:
            {
                int n = g.Kind == GlobalKind.RebuildParameter ? 3 : 4;
                if (args.Length != n) throw Bad($"{g.Name} takes {n} arguments, got {args.Length}");
                ExpectBool(args[1], "requires_grad");
                return args[0] is TensorSpec t ? t : throw Bad($"{g.Name} of {Describe(args[0])}, not a tensor");
            }
            default:
                throw Bad($"{g.FullName} cannot be called");
        }
    }

    private void ExpectBool(object? o, string what)
    {
        if (o is not bool) throw Bad($"{what} is {Describe(o)}, not a bool");
    }

    private object?[] Dims(object? o, string what)
    {
        var items = o switch
        {
            object?[] t => t,
            List<object?> l => l.ToArray(),
            _ => throw Bad($"tensor {what} is {Describe(o)}, not a tuple"),
        };
        if (items.Length > MaxDims) throw Bad($"tensor {what} has {items.Length} dimensions (at most {MaxDims})");
        foreach (var d in items)
            if (d is not long v || v < 0) throw Bad($"tensor {what} holds {Describe(d)}, not a non-negative integer");
        return items.ToArray();
    }

    /// <summary>Validates a tensor's geometry against its storage before anything is allocated.</summary>
    private TensorSpec MakeTensor(object? storage, object? offsetObject, object? sizeObject, object? strideObject)
    {
        if (storage is not StorageView view) throw Bad($"a tensor's storage is {Describe(storage)}, not a storage reference");
        if (offsetObject is not long offset || offset < 0) throw Bad($"storage offset {Describe(offsetObject)} is invalid");
        var size = Dims(sizeObject, "size").Select(d => (long)d!).ToArray();
        var stride = Dims(strideObject, "stride").Select(d => (long)d!).ToArray();
        if (size.Length != stride.Length) throw Bad($"tensor size has {size.Length} dimensions but its stride {stride.Length}");
        try
        {
            long numel = 1, last = offset;
            for (int i = 0; i < size.Length; i++)
            {
                numel = checked(numel * size[i]);
                if (size[i] > 0) last = checked(last + (size[i] - 1) * stride[i]);
            }
            string shape = "[" + string.Join(", ", size) + "]";
            if (numel > 0 && last >= view.Numel)
                throw Bad($"tensor {shape} at offset {offset} with stride [{string.Join(", ", stride)}] reaches element {last}, past its storage '{view.Record.Key}' of {view.Numel} elements");
            if (numel == 0 && offset > view.Numel)
                throw Bad($"storage offset {offset} is past storage '{view.Record.Key}' of {view.Numel} elements");
            _ = checked(numel * view.Record.ElementSize);
        }
        catch (OverflowException)
        {
            throw Bad("tensor size or stride overflows 64 bits");
        }
        return new TensorSpec(view, offset, size, stride);
    }

    /// <summary>A short description of a pickle value for messages.</summary>
    internal static string Describe(object? o) => o switch
    {
        null => "None",
        string s => $"str '{PickleGlobals.Printable(s)}'",
        long v => $"int {v}",
        BigInteger v => $"int {v}",
        double v => $"float {v.ToString(CultureInfo.InvariantCulture)}",
        bool v => v ? "True" : "False",
        byte[] b => $"bytes ({b.Length})",
        object?[] t => $"a tuple of {t.Length}",
        List<object?> l => $"a list of {l.Count}",
        PickleDict d => $"a dict of {d.Count}",
        PickleGlobal g => g.FullName,
        StorageView => "a storage",
        TensorSpec => "a tensor",
        TorchSharp.torch.Tensor t => $"a tensor [{string.Join(", ", t.shape)}]",
        _ => o.GetType().Name,
    };
}
