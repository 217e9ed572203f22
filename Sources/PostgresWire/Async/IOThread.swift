import Foundation

/// A dedicated thread that runs blocking jobs in order, so blocking socket I/O never runs on
/// Swift concurrency's cooperative pool.
final class IOThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Queues a job; false if the thread was stopped.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopped { condition.wait() }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}

/// Starts a blocking job on a fresh thread and awaits its result.
func runOnNewThread<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}

/// Run/cancel bookkeeping of one operation (who wins between start, finish and cancellation).
final class OperationState: @unchecked Sendable {
    enum Phase { case pending, running, finished, cancelled }
    private let lock = NSLock()
    private var phase = Phase.pending

    /// Called on the I/O thread; false if the operation was cancelled before it started.
    func start() -> Bool { lock.withLock { if phase == .pending { phase = .running; return true }; return false } }
    func finish() { lock.withLock { phase = .finished } }
    /// Returns the phase at the time of cancellation (marks a pending operation cancelled).
    func cancel() -> Phase {
        lock.withLock {
            let old = phase
            if phase == .pending { phase = .cancelled }
            return old
        }
    }
    var isRunning: Bool { lock.withLock { phase == .running } }
}
