namespace LicBackdoor.Weights.Pickle;

/// <summary>
/// Checks an unpickled object graph without recursion (so hostile nesting cannot overflow the stack):
/// no cycles, at most <see cref="Unpickler.MaxDepth"/> levels of containers, no leftover references to
/// globals; and collects the tensor and storage placeholders with the containers that hold them.
/// Shared sub-graphs are visited once, so a "billion laughs" graph costs its size, not its expansion.
/// </summary>
internal sealed class ObjectGraph
{
    private ObjectGraph(List<object> containers, List<TensorSpec> tensors, List<StorageView> storages)
    {
        Containers = containers;
        Tensors = tensors;
        Storages = storages;
    }

    /// <summary>Every container (dict, list, tuple) reachable from the root, each once.</summary>
    public List<object> Containers { get; }

    /// <summary>The distinct tensor placeholders.</summary>
    public List<TensorSpec> Tensors { get; }

    /// <summary>The distinct bare storages (a storage not wrapped in a tensor).</summary>
    public List<StorageView> Storages { get; }

    private static IReadOnlyList<object?> Children(object container) => container switch
    {
        PickleDict d => d.State is null ? d.Values : [.. d.Values, d.State],
        List<object?> l => l,
        object?[] t => t,
        _ => [],
    };

    private static bool IsContainer(object? o) => o is PickleDict or List<object?> or object?[];

    /// <summary>Walks the graph from <paramref name="root"/>; <paramref name="file"/> is named in errors.</summary>
    public static ObjectGraph Walk(object? root, string file)
    {
        var containers = new List<object>();
        var tensors = new List<TensorSpec>();
        var storages = new List<StorageView>();
        var seenLeaves = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var depth = new Dictionary<object, int>(ReferenceEqualityComparer.Instance); // finished containers
        var onPath = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var path = new Stack<(object Node, IReadOnlyList<object?> Children, int Next, int Max)>();

        void Leaf(object? o)
        {
            switch (o)
            {
                case TensorSpec t when seenLeaves.Add(t): tensors.Add(t); break;
                case StorageView s when seenLeaves.Add(s): storages.Add(s); break;
                case PickleGlobal g:
                    throw new CheckpointFormatException($"{file}: the checkpoint holds a reference to {g.FullName} where data was expected", file);
            }
        }

        if (!IsContainer(root)) { Leaf(root); return new ObjectGraph(containers, tensors, storages); }
        path.Push((root!, Children(root!), 0, 0));
        onPath.Add(root!);
        while (path.Count > 0)
        {
            var (node, children, next, max) = path.Pop();
            if (next < children.Count)
            {
                var child = children[next];
                path.Push((node, children, next + 1, max));
                if (!IsContainer(child)) { Leaf(child); continue; }
                if (depth.TryGetValue(child!, out int d))
                {
                    var top = path.Pop();
                    path.Push((top.Node, top.Children, top.Next, Math.Max(top.Max, d)));
                    continue;
                }
                if (onPath.Contains(child!))
                    throw new CheckpointFormatException($"{file}: the object graph contains a cycle (a container inside itself)", file);
                if (path.Count >= Unpickler.MaxDepth)
                    throw new CheckpointFormatException($"{file}: containers nested deeper than {Unpickler.MaxDepth} levels", file);
                onPath.Add(child!);
                path.Push((child!, Children(child!), 0, 0));
                continue;
            }
            // node finished
            onPath.Remove(node);
            depth[node] = max + 1;
            containers.Add(node);
            if (path.Count > 0)
            {
                var parent = path.Pop();
                path.Push((parent.Node, parent.Children, parent.Next, Math.Max(parent.Max, max + 1)));
            }
        }
        if (depth[root!] > Unpickler.MaxDepth)
            throw new CheckpointFormatException($"{file}: containers nested deeper than {Unpickler.MaxDepth} levels", file);
        return new ObjectGraph(containers, tensors, storages);
    }

    /// <summary>Replaces placeholders inside every container by their materialised values.</summary>
    public void Replace(Func<object, object?> map)
    {
        foreach (var c in Containers)
        {
            switch (c)
            {
                case PickleDict d:
                    for (int i = 0; i < d.Count; i++)
                        if (d.Values[i] is TensorSpec or StorageView) d.SetValueAt(i, map(d.Values[i]!));
                    if (d.State is TensorSpec or StorageView) d.State = map(d.State);
                    break;
                case List<object?> l:
                    for (int i = 0; i < l.Count; i++)
                        if (l[i] is TensorSpec or StorageView) l[i] = map(l[i]!);
                    break;
                case object?[] t:
                    for (int i = 0; i < t.Length; i++)
                        if (t[i] is TensorSpec or StorageView) t[i] = map(t[i]!);
                    break;
            }
        }
    }
}
