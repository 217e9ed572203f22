import PostgresWire

/// psql's report of an ErrorResponse or NoticeResponse (verbosity "default"), with the SQLSTATE
/// added after the severity for errors: severity line, the statement line with a cursor under
/// the error position, DETAIL, HINT, QUERY, and CONTEXT (errors only).
func formatDiagnostic(_ e: ServerError, query: String?, includeSQLState: Bool, isError: Bool) -> String {
    let severity = e.localizedSeverity ?? e.severity
    var text = includeSQLState ? "\(severity):  \(e.sqlState): \(e.message)\n" : "\(severity):  \(e.message)\n"
    // A position in the client's statement, or else one in an internally generated query.
    if let position = e.position, let query {
        text += errorPositionLines(query: query, position: position)
    } else if let position = e.internalPosition, let internalText = e.internalQuery {
        text += errorPositionLines(query: internalText, position: position)
    }
    if let detail = e.detail { text += "DETAIL:  \(detail)\n" }
    if let hint = e.hint { text += "HINT:  \(hint)\n" }
    if let internalQuery = e.internalQuery { text += "QUERY:  \(internalQuery)\n" }
    if isError, let context = e.where { text += "CONTEXT:  \(context)\n" }
    return text
}

/// "LINE n: …" and a cursor line, following libpq's reportErrorPosition: `position` counts
/// characters from 1; lines end at CR, LF or CRLF; a line wider than 60 columns is cut with
/// "..." so the cursor stays in view, keeping at least 10 columns right of it.
func errorPositionLines(query: String, position: Int) -> String {
    let displaySize = 60
    let minRightCut = 10
    // The position is the server's text: any number at all. libpq skips the cursor when it is
    // out of range, so do we (and never compute `position - 1` for Int.min).
    guard position >= 1 else { return "" }
    let chars = Array(query.unicodeScalars)
    let loc = position - 1
    var screen: [Int] = []  // starting screen column of each character, filled up to iend
    var scroffset = 0
    var line = 1
    var ibeg = 0
    var iend = -1
    var cno = 0
    while cno < chars.count {
        let ch = chars[cno].value
        screen.append(scroffset)
        if ch == 13 || ch == 10 {
            if cno < loc {
                if ch == 13 || cno == 0 || chars[cno - 1].value != 13 { line += 1 }
                ibeg = cno + 1
            } else {
                iend = cno
                break
            }
        }
        scroffset += max(1, ch == 9 ? 1 : TextWidth.scalarWidth(ch))
        cno += 1
    }
    if iend < 0 {
        iend = cno
        screen.append(scroffset)
    }
    guard loc <= cno else { return "" }
    var begTrunc = false
    var endTrunc = false
    if screen[iend] - screen[ibeg] > displaySize {
        if screen[ibeg] + displaySize >= screen[loc] + minRightCut {
            while screen[iend] - screen[ibeg] > displaySize { iend -= 1 }
            endTrunc = true
        } else {
            while screen[loc] + minRightCut < screen[iend] {
                iend -= 1
                endTrunc = true
            }
            while screen[iend] - screen[ibeg] > displaySize {
                ibeg += 1
                begTrunc = true
            }
        }
    }
    var prefix = "LINE \(line): "
    if begTrunc { prefix += "..." }
    var lineText = String.UnicodeScalarView()
    for scalar in chars[ibeg..<iend] { lineText.append(scalar.value == 9 ? " " : scalar) }
    var out = prefix + String(lineText)
    if endTrunc { out += "..." }
    out += "\n"
    let cursor = prefix.unicodeScalars.count + screen[loc] - screen[ibeg]
    out += String(repeating: " ", count: cursor) + "^\n"
    return out
}
