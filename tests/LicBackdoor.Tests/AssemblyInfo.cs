// libtorch's thread pool, the global random generator and Console redirection are process-wide;
// the machine has 2 cores, so tests run one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
