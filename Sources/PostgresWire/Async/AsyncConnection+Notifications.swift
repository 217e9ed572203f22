import Foundation
import PostgresWireProtocol

extension AsyncConnection {
    /// Notifications (LISTEN/NOTIFY) as an AsyncSequence: each `NotificationResponse` (channel,
    /// payload, sender's process ID) is delivered as soon as it arrives — in the middle of a query's
    /// results, and while the connection is idle: as long as a sequence is active, the I/O thread
    /// waits on the socket whenever no work is queued (in `poll`, no busy loop), and a query
    /// submitted meanwhile starts at once.
    ///
    /// Subscribe with `LISTEN channel` (e.g. `simpleQuery`). Several sequences may be active; each
    /// gets every notification that arrives after this call. The sequence ends when the consumer's
    /// task is cancelled or drops it, or when the connection is closed; it throws if the connection
    /// breaks. This replaces `connection.notificationHandler`, which is still called first. Since a
    /// listener must not stall the connection, notifications are buffered as `bufferingPolicy`
    /// says (unbounded by default).
    public func notifications(
        bufferingPolicy: AsyncThrowingStream<NotificationResponse, any Error>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncThrowingStream<NotificationResponse, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: NotificationResponse.self, throwing: (any Error).self, bufferingPolicy: bufferingPolicy)
        if connection.isClosed {
            continuation.finish(throwing: PostgresError.connectionClosed("connection is closed"))
            return stream
        }
        let hub = notificationHub
        let connection = self.connection
        let io = self.io
        let id = hub.add(continuation, installHandler: {
            let previous = connection.notificationHandler
            connection.notificationHandler = { n in
                previous?(n)
                hub.deliver(n)
            }
        }, onFirst: {
            io.setIdleHandler { [weak io] wake in
                do {
                    try connection.waitForAsynchronousMessages(wakeUpFileDescriptor: wake)
                } catch {
                    // Closed or broken: end the sequences and stop listening.
                    hub.finishAll(throwing: connection.isClosed && !(error.isBrokenConnection) ? nil : DatabaseError.wrap(error)) {
                        io?.setIdleHandler(nil)
                    }
                }
            }
        })
        continuation.onTermination = { [weak io] _ in
            hub.remove(id) { io?.setIdleHandler(nil) }
        }
        return stream
    }

    /// Ends every notification sequence normally and stops listening while idle.
    func stopNotifications() {
        let io = self.io
        notificationHub.finishAll(throwing: nil) { io.setIdleHandler(nil) }
    }
}

extension PostgresError {
    /// Whether the connection broke (as opposed to being closed on purpose).
    fileprivate var isBrokenConnection: Bool {
        if case .connectionClosed = self { return false }
        return true
    }
}

extension Error {
    fileprivate var isBrokenConnection: Bool { (self as? PostgresError)?.isBrokenConnection ?? true }
}

/// The consumers of `AsyncConnection.notifications()`.
final class NotificationHub: @unchecked Sendable {
    typealias Continuation = AsyncThrowingStream<NotificationResponse, any Error>.Continuation
    private let lock = NSLock()
    private var subscribers: [UInt64: Continuation] = [:]
    private var nextID: UInt64 = 0
    private var handlerInstalled = false

    /// Adds a consumer; `installHandler` runs on the first call ever, `onFirst` when there was
    /// none before (both under the hub's lock, so listening starts and stops in order).
    func add(_ continuation: Continuation, installHandler: () -> Void, onFirst: () -> Void) -> UInt64 {
        lock.withLock {
            if !handlerInstalled {
                handlerInstalled = true
                installHandler()
            }
            nextID += 1
            subscribers[nextID] = continuation
            if subscribers.count == 1 { onFirst() }
            return nextID
        }
    }

    /// Removes a consumer; `onLast` runs (under the lock) when none is left.
    func remove(_ id: UInt64, onLast: () -> Void) {
        lock.withLock {
            guard subscribers.removeValue(forKey: id) != nil else { return }
            if subscribers.isEmpty { onLast() }
        }
    }

    func deliver(_ notification: NotificationResponse) {
        let targets = lock.withLock { Array(subscribers.values) }
        for c in targets { c.yield(notification) }
    }

    /// Ends every sequence (normally when `error` is nil); `then` runs under the lock.
    func finishAll(throwing error: Error?, then: () -> Void) {
        let ended = lock.withLock { () -> [Continuation] in
            let all = Array(subscribers.values)
            subscribers.removeAll()
            then()
            return all
        }
        for c in ended { c.finish(throwing: error) }
    }
}
