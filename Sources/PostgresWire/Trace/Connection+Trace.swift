import PostgresWireProtocol

extension Connection {
    /// Opens a connection that writes every message it sends and receives to `traceFile`, in
    /// libpq's PQtrace format (startup and authentication included, secrets redacted).
    ///
    /// The file is created (or emptied) before connecting, so a failed connection attempt is traced
    /// too. Lines reach the file within a fraction of a second and at the latest when the
    /// connection is released; `(connection.tracer as? PQTraceWriter)?.flush()` forces them out.
    ///
    ///     let connection = try Connection.connect("host=db dbname=app", traceFile: "/tmp/app.trace")
    public static func connect(_ conninfo: String, traceFile: String, timestamps: Bool = true) throws(PostgresError) -> Connection {
        let writer = try PQTraceWriter(path: traceFile, timestamps: timestamps)
        do {
            return try connect(conninfo, tracer: writer)
        } catch {
            writer.flush()
            throw error
        }
    }
}
