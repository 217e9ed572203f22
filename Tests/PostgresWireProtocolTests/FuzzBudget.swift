import Foundation

/// How long the seeded fuzzers run. Locally: their base iteration counts (a few seconds in all).
/// With `CI=true` in the environment: up to `ciMultiplier` times as many iterations, each fuzzer
/// bounded by `ciSecondsPerFuzzer` of wall time (six fuzzers, under 60 s in all even when run one
/// after the other). The base count is always reached, so CI never fuzzes less than a local run;
/// the same seeds give the same inputs, CI just goes further along each sequence.
struct FuzzBudget {
    static let isCI = ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true"
    static let ciMultiplier = 50
    static let ciSecondsPerFuzzer = 9

    let base: Int
    let limit: Int
    let deadline: ContinuousClock.Instant

    init(_ base: Int) {
        self.base = base
        limit = Self.isCI ? base * Self.ciMultiplier : base
        deadline = ContinuousClock.now + .seconds(Self.ciSecondsPerFuzzer)
    }

    /// Whether iteration `i` (counting from 0) should run.
    func continues(_ i: Int) -> Bool {
        if i < base { return true }
        // Checking the clock every 64 iterations keeps it off the profile.
        return i < limit && (i % 64 != 0 || ContinuousClock.now < deadline)
    }
}
