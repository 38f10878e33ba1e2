// Package harness runs the benchmarks' cases and reports them: it times processes and
// reads their peak RSS, runs psql scripts as the hand-written baselines, re-executes the
// benchmark binary as the sluice loader, interleaves the cases over several runs, and prints
// medians, ratios and target verdicts as a Markdown table.
//
// # Measuring a loader alone
//
// Every timed case is a child process: psql for a baseline, the benchmark binary itself
// (re-executed by [Child] with a hidden -child flag) for sluice. Each is timed from start
// to exit, connection included, and its peak resident set comes from the kernel's rusage
// for that process ([Measure]). So the RSS figure is the loader's own, never the benchmark
// driver's, which holds its own connections, and the two sides pay the same start-up costs.
//
// # Interleaving
//
// [Plan.Run] runs the cases in turn within each run (baseline, strategy A, B, C, baseline,
// ...), preparing the target before each one untimed, so that the drift of a shared, noisy
// machine falls on every case alike. [Report] prints the median of each case, its ratio to
// its baseline, and [Target] lines that say PASS or FAIL.
//
// # Where the time goes
//
// [PhaseTimer] is a pgx query tracer a sluice child sets on its pool to time each step of
// its load (the COPY, the index builds, the checks, the commit) and report them in its
// [ChildResult]; [PSQLPhases] reads the same from psql's \timing output, and [PhaseTable]
// prints the medians. [Results.WriteTablePerRow] adds client CPU per row to the table,
// and [Results.CPUTarget] bounds it.
//
// # A benchmark command
//
// The parts every benchmark's main repeats live here too: [Main] (signals, the child
// re-exec, the exit status), [Usage] (flags but the hidden ones), [SelectCases],
// [ConnectAndClaim], [WriteHeader] and [WriteFooter] for the report, [MeasureSluiceChild]
// for a timed sluice case, [ExitUnknownChild] and [FinishChild] for the child's side, and
// [RunTestsOrChild] and [TestSchema] for its smoke test. Each main keeps only its flags,
// its setup and its cases.
package harness
