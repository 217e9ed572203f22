import Foundation

/// Float formatting as PostgreSQL's float4out/float8out produce it.
enum PostgresFloatFormat {
    /// Reformats Swift's shortest round-trip `description` (same digits as the server's Ryu) in
    /// PostgreSQL's layout: fixed notation for decimal exponents -4 ..< limit, else d.ddde±XX.
    static func shortest(_ swiftDescription: String, fixedExponentLimit: Int) -> String {
        var s = Substring(swiftDescription)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...]) ?? 0
            s = s[..<e]
        }
        var digits: [UInt8] = []
        var intDigits = 0
        var seenPoint = false
        for c in s.utf8 {
            if c == UInt8(ascii: ".") { seenPoint = true; continue }
            digits.append(c - 48)
            if !seenPoint { intDigits += 1 }
        }
        var e10 = intDigits - 1 + exponent
        while let first = digits.first, first == 0 { digits.removeFirst(); e10 -= 1 }
        while let last = digits.last, last == 0 { digits.removeLast() }
        let sign = negative ? "-" : ""
        if digits.isEmpty { return sign + "0" }
        let ds = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
        if e10 >= -4 && e10 < fixedExponentLimit {
            if e10 < 0 {
                return sign + "0." + String(repeating: "0", count: -e10 - 1) + ds
            }
            if digits.count <= e10 + 1 {
                return sign + ds + String(repeating: "0", count: e10 + 1 - digits.count)
            }
            let split = ds.index(ds.startIndex, offsetBy: e10 + 1)
            return sign + ds[..<split] + "." + ds[split...]
        }
        var out = sign + String(ds.first!)
        if digits.count > 1 { out += "." + ds.dropFirst() }
        out += e10 < 0 ? "e-" : "e+"
        let magnitude = abs(e10)
        out += magnitude < 10 ? "0\(magnitude)" : "\(magnitude)"
        return out
    }

    /// Swift's `description` is the shortest string that reads back as the value, like the Ryu
    /// algorithm the server uses; but the server's Ryu never picks a boundary of the rounding
    /// interval (the midpoints to the neighbouring floats), which ties-to-even reading would accept
    /// for an even mantissa: 1e23 prints as 9.999999999999999e+22. Detect that case and redo it.
    static func ryuDigits(_ d: Double) -> String {
        let description = d.description
        guard d.isFinite, d.exponent >= 53, d.significandBitPattern & 1 == 0 else { return description }
        let m = (UInt64(1) << 52) | d.significandBitPattern
        let e = Int(d.exponent) - 52  // d = m * 2^e, e >= 1
        let isBound = { (text: String) in isMidpoint(text, mantissa: m, exponent: e, powerOfTwo: d.significandBitPattern == 0, maxPow5: 23) }
        guard isBound(description) else { return description }
        return alternative(d, description, maxDigits: 17) { Double($0) == d && !isBound($0) }
    }

    static func ryuDigits(_ f: Float) -> String {
        let description = f.description
        guard f.isFinite, f.exponent >= 24, f.significandBitPattern & 1 == 0 else { return description }
        let m = (UInt64(1) << 23) | UInt64(f.significandBitPattern)
        let e = Int(f.exponent) - 23
        let isBound = { (text: String) in isMidpoint(text, mantissa: m, exponent: e, powerOfTwo: f.significandBitPattern == 0, maxPow5: 10) }
        guard isBound(description) else { return description }
        return alternative(Double(f), description, maxDigits: 9) { Float($0) == f && !isBound($0) }
    }

    /// Whether the decimal `text` is exactly the midpoint between m·2^e (e ≥ 1) and a neighbour.
    private static func isMidpoint(_ text: String, mantissa m: UInt64, exponent e: Int, powerOfTwo: Bool, maxPow5: Int) -> Bool {
        guard let parts = decimalParts(text) else { return false }
        if equals(parts, odd: 2 * m + 1, twoExponent: e - 1, maxPow5: maxPow5) { return true }
        // Below a power of two the neighbour is half as far.
        return powerOfTwo ? equals(parts, odd: 4 * m - 1, twoExponent: e - 2, maxPow5: maxPow5)
                          : equals(parts, odd: 2 * m - 1, twoExponent: e - 1, maxPow5: maxPow5)
    }

    /// digits·10^k == odd·2^t, exactly (t ≥ 0, small k).
    private static func equals(_ parts: (UInt64, Int), odd: UInt64, twoExponent t: Int, maxPow5: Int) -> Bool {
        let (digits, k) = parts
        guard t >= 0, k >= 0, k <= maxPow5 else { return false }
        var p5: UInt64 = 1
        for _ in 0..<k { p5 *= 5 }
        guard odd % p5 == 0 else { return false }
        let q = odd / p5  // digits·2^k == q·2^t
        if t >= k {
            let shift = t - k
            guard shift < 64, q.leadingZeroBitCount > shift else { return false }
            return digits == q << shift
        }
        let shift = k - t
        guard shift < 64, digits.leadingZeroBitCount > shift else { return false }
        return digits << shift == q
    }

    /// The integer digits and power of ten of a decimal string ("9.5e+22" → (95, 21)).
    private static func decimalParts(_ text: String) -> (UInt64, Int)? {
        var s = Substring(text)
        if s.first == "-" { s = s.dropFirst() }
        var exponent = 0
        if let i = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let x = Int(s[s.index(after: i)...]) else { return nil }
            exponent = x
            s = s[..<i]
        }
        var digits: UInt64 = 0
        var seenPoint = false
        for c in s.utf8 {
            if c == UInt8(ascii: ".") { seenPoint = true; continue }
            let (m, o1) = digits.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            guard !o1, !o2 else { return nil }
            digits = a
            if seenPoint { exponent -= 1 }
        }
        while digits != 0, digits % 10 == 0 { digits /= 10; exponent += 1 }
        return (digits, exponent)
    }

    /// The shortest correctly rounded representation (at more digits than `description`) that
    /// `accept`s, as %e text.
    private static func alternative(_ value: Double, _ description: String, maxDigits: Int, accept: (String) -> Bool) -> String {
        let start = max(1, (decimalParts(description).map { String($0.0).count }) ?? 1)
        for length in start...maxDigits {
            let candidate = String(format: "%.*e", length - 1, value)
            if accept(candidate) { return candidate }
        }
        return String(format: "%.*e", maxDigits - 1, value)
    }

    /// C's %.{precision}g.
    static func printfG(_ d: Double, precision: Int) -> String {
        String(format: "%.*g", precision, d)
    }
}
