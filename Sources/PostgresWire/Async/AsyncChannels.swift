import Foundation

// The hand-overs between a task and the I/O thread of an `AsyncConnection` besides the batch
// channel of row and COPY-out streams (StreamBatches.swift): the bounded chunk queue of async
// COPY FROM STDIN, and a job's result awaited by a task.

/// The stream ended on the consumer side (the COPY job is over) before the producer finished.
struct CopyChannelClosed: Error {}

/// A bounded queue from a task (producer, suspending) to the I/O thread (consumer, blocking).
final class CopyInChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private let capacity: Int
    private var finished = false
    private var failure: Error?
    private var consumerClosed = false
    private var consumerStarted = false
    private var waitingProducer: CheckedContinuation<Void, Error>?

    init(capacity: Int) { self.capacity = capacity }

    /// Producer: queues a chunk; suspends while the queue is full.
    func put(_ chunk: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            condition.lock()
            if let failure {
                condition.unlock()
                c.resume(throwing: failure)
                return
            }
            if consumerClosed {
                condition.unlock()
                c.resume(throwing: CopyChannelClosed())
                return
            }
            chunks.append(chunk)
            condition.signal()
            if chunks.count < capacity {
                condition.unlock()
                c.resume()
            } else {
                waitingProducer = c
                condition.unlock()
            }
        }
    }

    /// Producer: no more data.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Producer side failed or was cancelled: the consumer throws `error`. Ignored (false) once
    /// the producer finished or failed.
    @discardableResult
    func fail(_ error: Error) -> Bool {
        condition.lock()
        guard !finished, failure == nil else {
            condition.unlock()
            return false
        }
        failure = error
        let c = waitingProducer
        waitingProducer = nil
        condition.broadcast()
        condition.unlock()
        c?.resume(throwing: error)
        return true
    }

    /// Consumer: true if the producer failed before the consumer started (skip the job).
    var failedBeforeStart: Bool {
        condition.lock()
        defer { condition.unlock() }
        consumerStarted = true
        return failure != nil
    }

    /// Consumer: the next chunk (blocking), nil at the end; throws the producer's failure.
    func take() throws -> [UInt8]? {
        condition.lock()
        while chunks.isEmpty && !finished && failure == nil { condition.wait() }
        if let failure {
            condition.unlock()
            throw failure
        }
        guard !chunks.isEmpty else {
            condition.unlock()
            return nil
        }
        let chunk = chunks.removeFirst()
        var resume: CheckedContinuation<Void, Error>?
        if chunks.count < capacity {
            resume = waitingProducer
            waitingProducer = nil
        }
        condition.unlock()
        resume?.resume()
        return chunk
    }

    /// Consumer: the job is over; later puts throw `CopyChannelClosed`.
    func closeConsumer() {
        condition.lock()
        consumerClosed = true
        chunks.removeAll()
        let c = waitingProducer
        waitingProducer = nil
        condition.unlock()
        c?.resume(throwing: CopyChannelClosed())
    }
}

/// The result of a job on the I/O thread, awaited (not cancellably) by a task.
final class JobOutcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, Error>?
    private var waiter: CheckedContinuation<Result<T, Error>, Never>?

    func set(_ value: Result<T, Error>) {
        lock.lock()
        if let w = waiter {
            waiter = nil
            lock.unlock()
            w.resume(returning: value)
        } else {
            result = value
            lock.unlock()
        }
    }

    func value() async -> Result<T, Error> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<T, Error>, Never>) in
            lock.lock()
            if let result {
                lock.unlock()
                c.resume(returning: result)
            } else {
                waiter = c
                lock.unlock()
            }
        }
    }
}
