import COpenSSL
import Foundation

/// sslmode=verify-full's check that the server certificate names the host we meant, with libpq's
/// rules (fe-secure-common.c and fe-secure-openssl.c):
///
/// - subjectAltName entries of type dNSName and iPAddress are compared with the host name; a
///   dNSName may be a wildcard `*.example.com`, matching exactly one leading label.
/// - The subject's Common Name is consulted only when the certificate has no SAN of the host's
///   type (dNSName for a name, iPAddress for an address) and no SAN matched.
/// - Names compare case-insensitively; a name with an embedded NUL is an error.
enum HostNameVerification {
    /// A certificate name, or an address from an iPAddress SAN.
    enum Name: Equatable, Sendable {
        case dns([UInt8])
        case ip([UInt8])
    }

    /// libpq's is_ip_address: inet_aton (which accepts forms like "127.1") or an IPv6 literal.
    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_aton(host, &v4) != 0 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// nil when `host` matches the certificate, else libpq's error message.
    static func check(certificate: OpaquePointer, host: String) -> String? {
        var sans: [Name] = []
        if let stack = pgwire_sans_get(certificate) {
            defer { pgwire_sans_free(stack) }
            for index in 0..<pgwire_sans_count(stack) {
                var data: UnsafePointer<UInt8>?
                var length: Int32 = 0
                let type = pgwire_sans_entry(stack, index, &data, &length)
                let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: Int(length))) } ?? []
                if type == pgwire_GEN_DNS() { sans.append(.dns(bytes)) }
                else if type == pgwire_GEN_IPADD() { sans.append(.ip(bytes)) }
            }
        }
        var commonName: [UInt8]?
        var data: UnsafePointer<UInt8>?
        var length: Int32 = 0
        if pgwire_common_name(certificate, &data, &length) == 1, let data {
            commonName = Array(UnsafeBufferPointer(start: data, count: Int(length)))
        }
        return check(subjectAltNames: sans, commonName: commonName, host: host)
    }

    /// The rules on already-extracted names (unit-testable without certificates).
    static func check(subjectAltNames: [Name], commonName: [UInt8]?, host: String) -> String? {
        let hostIsAddress = isIPAddress(host)
        var examined = 0
        var firstName: String?
        var checkCommonName = true
        for name in subjectAltNames {
            let outcome: Outcome
            switch name {
            case .dns(let bytes):
                if !hostIsAddress { checkCommonName = false }
                outcome = matchName(bytes, host: host)
            case .ip(let bytes):
                if hostIsAddress { checkCommonName = false }
                outcome = matchAddress(bytes, host: host)
            }
            examined += 1
            switch outcome {
            case .error(let message): return message
            case .match: return nil
            case .noMatch(let shown): if firstName == nil { firstName = shown }
            }
        }
        if checkCommonName, let commonName {
            examined += 1
            switch matchName(commonName, host: host) {
            case .error(let message): return message
            case .match: return nil
            case .noMatch(let shown): if firstName == nil { firstName = shown }
            }
        }
        guard examined > 0, let firstName else { return "could not get server's host name from server certificate" }
        if examined > 1 {
            let others = examined - 1
            return "server certificate for \"\(firstName)\" (and \(others) other name\(others == 1 ? "" : "s")) does not match host name \"\(host)\""
        }
        return "server certificate for \"\(firstName)\" does not match host name \"\(host)\""
    }

    enum Outcome: Equatable {
        case match
        case noMatch(String)
        case error(String)
    }

    static func matchName(_ bytes: [UInt8], host: String) -> Outcome {
        if bytes.contains(0) { return .error("SSL certificate's name contains embedded null") }
        let name = String(decoding: bytes, as: UTF8.self)
        if asciiLowercased(name) == asciiLowercased(host) || wildcardMatches(pattern: name, host: host) {
            return .match
        }
        return .noMatch(name)
    }

    static func matchAddress(_ bytes: [UInt8], host: String) -> Outcome {
        var matched = false
        let shown: String
        switch bytes.count {
        case 4:
            var address = in_addr()
            if inet_aton(host, &address) != 0 {
                matched = withUnsafeBytes(of: &address) { Array($0) } == bytes
            }
            shown = bytes.map(String.init).joined(separator: ".")
        case 16:
            var address = in6_addr()
            if inet_pton(AF_INET6, host, &address) == 1 {
                matched = withUnsafeBytes(of: &address) { Array($0) } == bytes
            }
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            shown = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil
                ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        default:
            return .error("certificate contains IP address with invalid length \(bytes.count)")
        }
        return matched ? .match : .noMatch(shown)
    }

    /// libpq's wildcard_certificate_match: "*.rest" matches "label.rest" (no dot in "label").
    static func wildcardMatches(pattern: String, host: String) -> Bool {
        let p = Array(asciiLowercased(pattern).utf8)
        let h = Array(asciiLowercased(host).utf8)
        guard p.count >= 3, p[0] == UInt8(ascii: "*"), p[1] == UInt8(ascii: "."), p.count <= h.count else { return false }
        let suffix = p[1...]
        let start = h.count - suffix.count
        guard Array(h[start...]) == Array(suffix) else { return false }
        // No dot left of where the pattern started to match.
        return !h[..<start].contains(UInt8(ascii: "."))
    }

    private static func asciiLowercased(_ s: String) -> String {
        String(decoding: s.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
