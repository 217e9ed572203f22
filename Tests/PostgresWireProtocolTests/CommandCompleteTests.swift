import Testing
@testable import PostgresWireProtocol

@Suite("CommandComplete tags")
struct CommandCompleteTests {
    @Test("row counts and command names", arguments: [
        ("INSERT 0 5", "INSERT", 5 as Int?),
        ("INSERT 0 1", "INSERT", 1),
        ("INSERT 16384 1", "INSERT", 1),
        ("SELECT 3", "SELECT", 3),
        ("SELECT 0", "SELECT", 0),
        ("SELECT 9223372036854775807", "SELECT", Int.max),
        ("UPDATE 0", "UPDATE", 0),
        ("UPDATE 12", "UPDATE", 12),
        ("DELETE 7", "DELETE", 7),
        ("COPY 10", "COPY", 10),
        ("MERGE 2", "MERGE", 2),
        ("FETCH 4", "FETCH", 4),
        ("MOVE 1", "MOVE", 1),
        ("CREATE TABLE", "CREATE TABLE", nil),
        ("DROP INDEX", "DROP INDEX", nil),
        ("BEGIN", "BEGIN", nil),
        ("SET", "SET", nil),
        ("SELECT", "SELECT", nil),
        ("INSERT", "INSERT", nil),
        ("COPY", "COPY", nil),
        ("", "", nil),
        ("SELECT x", "SELECT x", nil),
        ("SELECT 99999999999999999999", "SELECT", nil),  // does not fit in Int
        ("CREATE TABLE 5", "CREATE TABLE", nil),  // only row-returning commands carry counts
        ("LISTEN", "LISTEN", nil),
        // Hostile counts: only a run of ASCII digits that fits is a count (libpq's PQcmdTuples test).
        ("SELECT -1", "SELECT -1", nil),
        ("UPDATE +5", "UPDATE +5", nil),
        ("DELETE -9223372036854775808", "DELETE -9223372036854775808", nil),
        ("COPY 9223372036854775808", "COPY", nil),
        ("INSERT 0 18446744073709551616", "INSERT", nil),
        ("INSERT 0 ٣", "INSERT 0 ٣", nil),
        ("SELECT ١٢٣", "SELECT ١٢٣", nil),
        ("SELECT 1\u{301}", "SELECT 1\u{301}", nil),
        ("MOVE 2147483648", "MOVE", 2_147_483_648),
        ("FETCH 0", "FETCH", 0),
    ])
    func parse(_ tag: String, _ command: String, _ rowCount: Int?) {
        let c = CommandComplete(tag: tag)
        #expect(c.rowCount == rowCount, "rowCount of \"\(tag)\"")
        #expect(c.command == command, "command of \"\(tag)\"")
    }

    @Test("a decoded CommandComplete keeps its tag verbatim")
    func decoded() {
        let (t, b) = splitTyped(BackendMessage.commandComplete(CommandComplete(tag: "INSERT 0 5")).encoded)
        guard case .commandComplete(let c)? = decodeBackend(type: t, body: b).value else {
            Issue.record("not a CommandComplete")
            return
        }
        #expect(c.tag == "INSERT 0 5")
        #expect(c.rowCount == 5)
        #expect(c.command == "INSERT")
    }
}
