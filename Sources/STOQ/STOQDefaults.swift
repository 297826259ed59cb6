/// Numbers STOQ uses unless told otherwise.
public enum STOQDefaults {
    /// The UDP port agents listen on.
    public static let port: UInt16 = 9292
    /// The mesh protocol's ALPN identifier.
    public static let meshALPN = "stoq/1"
    /// HTTP/0.9 over QUIC, as the QUIC interop runner speaks it.
    public static let interopALPN = "hq-interop"
}
