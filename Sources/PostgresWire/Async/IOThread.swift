import Foundation

/// A dedicated thread that runs blocking jobs in order, so blocking socket I/O never runs on
/// Swift concurrency's cooperative pool.
final class IOThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopped = false
    /// Runs while no job is queued (e.g. reading notifications); it must return soon after the
    /// wake-up descriptor it is given becomes readable.
    private var idleHandler: (@Sendable (Int32) -> Void)?
    /// Whether `idleHandler` is running (a submit must then write to the wake-up pipe).
    private var idling = false
    /// The wake-up pipe (read end, write end), made when an idle handler is first set.
    private var wakeUpPipe: (read: Int32, write: Int32)?
    /// The tracer lookup of the tasks that submit jobs (see `TracerLookup`).
    private let tracerMemo = TracerLookup.LockedMemo()

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Queues a job; false if the thread was stopped.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        // The submitting task's ServiceContext, tracer and metrics backend go with the job (the
        // parent of its spans), when there are any.
        let job = ObservationScope.wrap(job, memo: tracerMemo)
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        jobs.append(job)
        condition.signal()
        wakeIdleHandler()
        return true
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
        defer { condition.unlock() }
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

    private func loop() {
        defer {
            condition.lock()
            if let pipe = wakeUpPipe {
                close(pipe.read)
                close(pipe.write)
                wakeUpPipe = nil
            }
            condition.unlock()
        }
        while true {
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
                    condition.wait()
                }
            }
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
        let scope = ObservationScope.capture()
        let thread = Thread {
            continuation.resume(with: Result { try scope.map { try $0.run(body) } ?? body() })
        }
        thread.name = name
        thread.start()
    }
}
