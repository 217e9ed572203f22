import ArgumentParser

/// pgwire's version, the one place it is defined (`pgwire --version`).
let pgwireVersion = "pgwire (PostgresWire) 0.1.0"

/// For commands whose SQL argument collects unrecognized words (so that SQL may begin with `-`, as
/// a comment does): an argument that looks like an option (`--name`, `--name=value`, `-x`) is
/// reported as an unknown option, as ArgumentParser reports it for the other commands, with a
/// suggestion for a near miss ("Unknown option '--fromat'. Did you mean '--format'?").
func rejectUnknownOptions(_ arguments: [String], of command: ParsableCommand.Type) throws {
    for argument in arguments where looksLikeOption(argument) {
        let name = String(argument.prefix { $0 != "=" })
        var message = "Unknown option '\(name)'."
        if let suggestion = closestOption(to: name, among: optionNames(of: command)) {
            message += " Did you mean '\(suggestion)'?"
        }
        throw ValidationError(message)
    }
}

/// `-x`, `--name` or `--name=value`: no spaces, so SQL such as `-- comment` is never taken for one.
func looksLikeOption(_ argument: String) -> Bool {
    let name = argument.prefix { $0 != "=" }
    let body = name.drop { $0 == "-" }
    let dashes = name.count - body.count
    guard dashes == 1 || dashes == 2, let first = body.first, first.isASCII && first.isLetter else { return false }
    if dashes == 1 && (body.count != 1 || argument.contains("=")) { return false }
    return body.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
}

/// The option names the command's help lists (`-h`, `--host`, …).
func optionNames(of command: ParsableCommand.Type) -> [String] {
    var names: [String] = []
    for line in command.helpMessage(columns: 10_000).split(separator: "\n") {
        let trimmed = line.drop { $0 == " " }
        guard trimmed.hasPrefix("-") else { continue }
        let synopsis = trimmed.components(separatedBy: "  ").first ?? ""
        for word in synopsis.split(whereSeparator: { $0 == "," || $0 == " " }) where word.hasPrefix("-") {
            names.append(String(word))
        }
    }
    return names
}

/// The known option closest to `name` (at most two edits away, or extending it), if any.
func closestOption(to name: String, among known: [String]) -> String? {
    let candidates = known.filter { $0.hasPrefix("--") == name.hasPrefix("--") && $0 != name }
    if name.count > 3, let extended = candidates.first(where: { $0.hasPrefix(name) }) { return extended }
    let scored = candidates.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 }
    return scored.min { $0.1 < $1.1 }?.0
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
    var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
    for i in 0...x.count { d[i][0] = i }
    for j in 0...y.count { d[0][j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[x.count][y.count]
}
