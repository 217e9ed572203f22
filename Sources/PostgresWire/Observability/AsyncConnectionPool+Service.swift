import Foundation
import ServiceLifecycle

/// The pool as a swift-service-lifecycle `Service`: run it in a `ServiceGroup` and it shuts down
/// with the service. Using the pool does not require `run()`.
extension AsyncConnectionPool: Service {
    /// Keeps the pool alive until a graceful shutdown (or cancellation), then drains it: new and
    /// waiting acquisitions fail ("the pool is closed"), idle connections close at once, the
    /// queries in flight get `configuration.shutdownTimeout` seconds to finish and give their
    /// connections back, which are then closed with Terminate. Connections still checked out
    /// at the deadline get a CancelRequest and are closed too.
    public func run() async throws {
        var cancelled = false
        do {
            try await gracefulShutdown()
        } catch {
            cancelled = true
        }
        await shutDown(timeout: cancelled ? 0 : configuration.shutdownTimeout)
    }

    /// Drains the pool (see `run()`); true if every connection came back before the deadline.
    @discardableResult
    func shutDown(timeout: Double) async -> Bool {
        let drained = await close(timeout: timeout)
        if drained { return true }
        let core = self.core
        _ = try? await runOnNewThread(name: "PostgresWire pool shutdown") {
            for connection in core.checkedOutResources() {
                try? connection.connection.cancel()
                connection.connection.close()
            }
        }
        return false
    }
}
