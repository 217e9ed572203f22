import Foundation
import NIOCore

/// Where the `EventLoopFuture` entry points of SQLKit and Fluent run their async work: a task executor
/// on one dedicated thread, so that the bridge from async/await to futures never needs a thread of
/// the cooperative pool (which callers may be blocking with `.wait()`, as FluentBenchmarker does from
/// inside a task) nor an event loop. The work that runs here is only bookkeeping between awaits:
/// queries run on each connection's own I/O thread and rows are decoded there.
final class PostgresWireBridgeExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = PostgresWireBridgeExecutor()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "PostgresWire SQLKit bridge"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// Runs `body` as a task on the bridge executor.
package func postgresWireDetachedTask(_ body: @escaping @Sendable () async -> Void) {
    Task(executorPreference: PostgresWireBridgeExecutor.shared) { await body() }
}

extension EventLoop {
    /// A future completed by `body`, which runs as a task on the bridge executor (never on this event
    /// loop, never on the cooperative pool).
    package func postgresWireFuture<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> EventLoopFuture<T> {
        let promise = makePromise(of: T.self)
        Task(executorPreference: PostgresWireBridgeExecutor.shared) {
            do { promise.succeed(try await body()) } catch { promise.fail(error) }
        }
        return promise.futureResult
    }
}
