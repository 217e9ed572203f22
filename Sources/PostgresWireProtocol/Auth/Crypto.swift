import COpenSSL

/// The few hash primitives authentication needs, from OpenSSL's libcrypto.
public enum Crypto {
    public static func sha256(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha256(), 32) }
    public static func md5(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_md5(), 16) }
    public static func sha384(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha384(), 48) }
    public static func sha512(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha512(), 64) }

    static func digest(_ data: [UInt8], _ md: OpaquePointer?, _ size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var outLength: UInt32 = 0
        let ok = data.withUnsafeBytes { d in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(d.baseAddress, d.count, o.baseAddress, &outLength, md, nil)
            }
        }
        precondition(ok == 1 && Int(outLength) == size, "EVP_Digest failed")
        return out
    }

    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, o.baseAddress, &outLength)
                }
            }
        }
        precondition(result != nil && outLength == 32, "HMAC failed")
        return out
    }

    public static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int, keyLength: Int = 32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: keyLength)
        let ok = password.withUnsafeBytes { p in
            salt.withUnsafeBytes { s in
                out.withUnsafeMutableBufferPointer { o in
                    PKCS5_PBKDF2_HMAC(p.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(p.count),
                                      s.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(s.count),
                                      Int32(iterations), EVP_sha256(), Int32(keyLength), o.baseAddress)
                }
            }
        }
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }

    /// Bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
