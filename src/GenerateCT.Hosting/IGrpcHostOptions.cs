namespace GenerateCT.Hosting;

/// <summary>The part of a host's options (node, coordinator) that <see cref="GrpcHostDefaults"/> serves gRPC with.</summary>
public interface IGrpcHostOptions
{
    /// <summary>State: database, TLS material; a self-signed certificate is kept under tls/ here.</summary>
    string DataDirectory { get; }

    /// <summary>Address gRPC listens on.</summary>
    string GrpcAddress { get; }

    /// <summary>gRPC (HTTPS, HTTP/2) port; 0 = any free port.</summary>
    int GrpcPort { get; }

    TlsOptions Tls { get; }
}
