import Foundation

/// A unit of work for an `IOThread`; it is its own cancellation gate (one allocation per job).
class IOJob: CancelGate, @unchecked Sendable {
    /// The submitting task's ServiceContext, tracer and metrics backend, if any (set by `submit`).
    fileprivate var scope: ObservationScope?
    /// Runs on the I/O thread.
    func run() {}
}

/// A job that runs a closure (streams, COPY, notifications' bookkeeping).
final class ClosureJob: IOJob, @unchecked Sendable {
    private let body: @Sendable () -> Void
    init(condition: NSCondition, _ body: @escaping @Sendable () -> Void) {
        self.body = body
        super.init(condition: condition)
    }
    override func run() { body() }
}

/// A dedicated thread that runs blocking jobs in order, so blocking socket I/O never runs on
/// Swift concurrency's cooperative pool. It starts with the first job (or idle handler).
///
/// The hand-off: `submit` queues the job under a lock and signals the condition only when the
/// thread sleeps. After a job the thread keeps polling the queue for `spinNanoseconds` before it
/// sleeps, because the task it just resumed usually submits its next job within a few
/// microseconds: that job then costs no futex wake and no context switch of the I/O thread.
/// Each polling round yields the processor, so that the thread that runs the resumed task is
/// not kept waiting for this core.
///
/// The thread is also a `TaskExecutor` (`AsyncConnection.executor`): a task that prefers it
/// (`withTaskExecutorPreference`) runs its nonisolated code here, between the jobs, and the
/// connection's operations then run inline, without a hand-off in either direction.
final class IOThread: @unchecked Sendable {
    /// A queued unit of work: a blocking job, or a task's job (the thread as a task executor).
    private enum Work {
        case job(IOJob)
        case task(UnownedJob)
    }
    private let condition = NSCondition()
    /// Guards the state of this connection's cancellation gates (see `CancelGate`).
    let gateCondition = NSCondition()
    private var jobs: [Work] = []
    private var head = 0
    private var stopped = false
    /// Whether the thread waits on `condition` (a submit must then signal it).
    private var sleeping = false
    /// Runs while no job is queued (e.g. reading notifications); it must return soon after the
    /// wake-up descriptor it is given becomes readable.
    private var idleHandler: (@Sendable (Int32) -> Void)?
    /// Whether `idleHandler` is running (a submit must then write to the wake-up pipe).
    private var idling = false
    /// The wake-up pipe (read end, write end), made when an idle handler is first set.
    private var wakeUpPipe: (read: Int32, write: Int32)?
    /// The tracer lookup of the tasks that submit jobs (see `TracerLookup`).
    private let tracerMemo = TracerLookup.LockedMemo()
    /// The running loop's thread (see `isCurrent`), guarded by its own lock so that the check
    /// never contends with the polling loop.
    private let identityLock = NSLock()
    private var loopThread: Thread?
    /// How long the thread polls for the next job before it sleeps.
    static let spinNanoseconds: UInt64 = {
        // PGWIRE_IO_POLL_NS: tuning knob for benchmarks (0: never poll).
        if let v = ProcessInfo.processInfo.environment["PGWIRE_IO_POLL_NS"], let n = UInt64(v) { return n }
        return 50_000
    }()
    /// Whether a polling round yields the processor (PGWIRE_IO_POLL_YIELD=0: benchmarks only).
    static let yieldWhilePolling = ProcessInfo.processInfo.environment["PGWIRE_IO_POLL_YIELD"] != "0"
    /// The I/O thread's stack. It runs user closures (`withConnection`), so it stays generous: only
    /// touched pages count in RSS (256 KiB measured no different in W7).
    static let stackSize = 1 << 20

    /// The thread's name; the thread starts with the first job or idle handler (an idle
    /// connection that never ran anything costs no thread).
    private let name: String
    /// Whether the loop runs (or is starting). It ends once stopped with nothing queued; a task
    /// job queued after that (a task still preferring this executor) starts it again.
    private var started = false

    init(name: String) {
        self.name = name
    }

    /// Marks the thread started; true if the caller must start it (callers hold `condition`).
    private func claimStart() -> Bool {
        if started { return false }
        started = true
        return true
    }

    private func startThread() {
        let thread = Thread { [self] in
            identityLock.withLock { loopThread = Thread.current }
            self.loop()
        }
        thread.name = name
        thread.stackSize = Self.stackSize
        thread.start()
    }

    /// Queues a closure; false if the thread was stopped.
    @discardableResult
    func submit(_ body: @escaping @Sendable () -> Void) -> Bool {
        submit(ClosureJob(condition: gateCondition, body))
    }

    /// Queues a job; false if the thread was stopped.
    @discardableResult
    func submit(_ job: IOJob) -> Bool {
        // The submitting task's ServiceContext, tracer and metrics backend go with the job (the
        // parent of its spans), when there are any.
        job.scope = ObservationScope.capture(memo: tracerMemo)
        condition.lock()
        guard !stopped else {
            condition.unlock()
            return false
        }
        appendUnlockAndWake(.job(job))
        return true
    }

    /// Queues a task's job (the thread as a task executor). It runs even after `stop`: the loop
    /// then starts again for it and ends when nothing is queued.
    fileprivate func submitTask(_ job: UnownedJob) {
        condition.lock()
        appendUnlockAndWake(.task(job))
    }

    /// Appends to the queue (the caller holds `condition`'s lock, which this releases), then
    /// wakes the thread if it sleeps or starts it if it is not running.
    private func appendUnlockAndWake(_ item: Work) {
        jobs.append(item)
        let signal = sleeping
        wakeIdleHandler()
        let start = claimStart()
        condition.unlock()
        // Signalled after unlocking: the woken thread then does not block on the lock at once.
        if signal { condition.signal() }
        if start { startThread() }
    }

    /// Whether the caller runs on this thread (as a task that prefers this executor: blocking
    /// work may then run inline).
    var isCurrent: Bool {
        let current = Thread.current
        return identityLock.withLock { loopThread === current }
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        wakeIdleHandler()
        condition.unlock()
    }

    /// Sets (or, with nil, removes) the work to run whenever no job is queued. It receives a
    /// descriptor that becomes readable when it must return (a job was queued, the handler was
    /// removed or the thread stops). False if the wake-up pipe could not be made.
    @discardableResult
    func setIdleHandler(_ handler: (@Sendable (Int32) -> Void)?) -> Bool {
        condition.lock()
        var start = false
        defer {
            condition.unlock()
            if start { startThread() }
        }
        if stopped && handler != nil { return false }
        if handler != nil && wakeUpPipe == nil {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { return false }
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            wakeUpPipe = (fds[0], fds[1])
        }
        idleHandler = handler
        condition.signal()
        wakeIdleHandler()
        if handler != nil { start = claimStart() }
        return true
    }

    /// Makes a running idle handler return (callers hold `condition`).
    private func wakeIdleHandler() {
        guard idling, let pipe = wakeUpPipe else { return }
        var byte: UInt8 = 1
        _ = write(pipe.write, &byte, 1)
    }

    /// Empties the wake-up pipe (callers hold `condition`).
    private func drainWakeUpPipe() {
        guard let pipe = wakeUpPipe else { return }
        var scratch = [UInt8](repeating: 0, count: 64)
        while read(pipe.read, &scratch, scratch.count) > 0 {}
    }

    /// Polls (holding the lock only to look) until a job is queued, the thread is stopped or
    /// an idle handler is set, for at most `spinNanoseconds`; true if it found one. Callers do
    /// not hold `condition`.
    private func spinForWork() -> Bool {
        guard PollPermits.shared.take() else { return false }
        defer { PollPermits.shared.give() }
        let deadline = DispatchTime.now().uptimeNanoseconds &+ Self.spinNanoseconds
        while true {
            // The lock is held for a few instructions per round, and a round reads the clock
            // (vDSO, no system call) in between: a submitter almost never finds it taken.
            condition.lock()
            let ready = head != jobs.count || stopped || idleHandler != nil
            condition.unlock()
            if ready { return true }
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            // The thread that runs the task (and submits the next job) may wait for this core
            // (few or busy cores): let it run first.
            if Self.yieldWhilePolling { sched_yield() }
        }
    }

    private func loop() {
        defer {
            identityLock.withLock { loopThread = nil }
            condition.lock()
            if let pipe = wakeUpPipe {
                close(pipe.read)
                close(pipe.write)
                wakeUpPipe = nil
            }
            // A task job queued meanwhile restarts the loop (`submitTask`).
            started = false
            let restart = head != jobs.count
            if restart { started = true }
            condition.unlock()
            if restart { startThread() }
        }
        var pollNext = false
        // Polls that found no job in a row, and jobs left to run before the next poll: after a
        // miss the thread polls again only after 2, 4, … 64 jobs (the next job does not come
        // soon, e.g. many tasks share a pool): polling then would only burn the CPU that the
        // tasks need. A poll that finds a job starts over.
        var misses = 0
        var skip = 0
        while true {
            if pollNext {
                if skip > 0 {
                    skip -= 1
                } else if spinForWork() {
                    misses = 0
                } else {
                    misses = Swift.min(misses + 1, 6)
                    skip = 1 << misses
                }
            }
            condition.lock()
            while head == jobs.count && !stopped {
                if let idle = idleHandler, let pipe = wakeUpPipe {
                    drainWakeUpPipe()
                    idling = true
                    condition.unlock()
                    idle(pipe.read)
                    condition.lock()
                    idling = false
                } else {
                    sleeping = true
                    condition.wait()
                    sleeping = false
                }
            }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let work = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            switch work {
            case .job(let job):
                if let scope = job.scope {
                    job.scope = nil
                    scope.run { job.run() }
                } else {
                    job.run()
                }
            case .task(let job):
                if #available(macOS 15.0, *) { runTask(job) }
            }
            pollNext = true
        }
    }
}

@available(macOS 15.0, *)
extension IOThread: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        submitTask(UnownedJob(job))
    }

    fileprivate func runTask(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }
}

/// How many I/O threads may poll for work at once (half the processors, at least one), so that
/// polling never takes the cores the tasks that submit the jobs need.
final class PollPermits: @unchecked Sendable {
    static let shared = PollPermits(ProcessInfo.processInfo.activeProcessorCount / 2)
    private let lock = NSLock()
    private var left: Int

    init(_ count: Int) { left = Swift.max(1, count) }

    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard left > 0 else { return false }
        left -= 1
        return true
    }

    func give() {
        lock.lock()
        left += 1
        lock.unlock()
    }
}

/// Starts a blocking job on a fresh thread and awaits its result.
func runOnNewThread<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let scope = ObservationScope.capture()
        let thread = Thread {
            continuation.resume(with: Result { try scope.map { try $0.run(body) } ?? body() })
        }
        thread.name = name
        thread.start()
    }
}
