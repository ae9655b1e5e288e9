using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GenerateCT.Testing.Oidc;

/// <summary>
/// A real OpenID Connect issuer on 127.0.0.1 for tests, shaped like Entra ID's v2.0 endpoint:
/// HTTPS with a certificate from its own CA (written as PEM for the node to trust, as a hospital's
/// internal IdP would be), a discovery document at {authority}/.well-known/openid-configuration, a
/// JWKS with an RSA key generated for this run, and RS256 access tokens with tid/oid/roles claims.
/// </summary>
public sealed class OidcIssuer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RSA _signingKey;
    private readonly string _keyId;

    private OidcIssuer(WebApplication app, RSA signingKey, string keyId, string tenantId, string caCertificatePath, Uri baseAddress)
    {
        _app = app;
        _signingKey = signingKey;
        _keyId = keyId;
        TenantId = tenantId;
        CaCertificatePath = caCertificatePath;
        Authority = new Uri(baseAddress, $"{tenantId}/v2.0").ToString();
    }

    public string TenantId { get; }

    /// <summary>Issuer URL; also the "iss" of its tokens (as Entra ID: https://host/{tenant}/v2.0).</summary>
    public string Authority { get; }

    /// <summary>PEM of the CA that issued the issuer's HTTPS certificate.</summary>
    public string CaCertificatePath { get; }

    /// <summary>Starts the issuer on a free loopback port; its CA certificate is written to <paramref name="directory"/>.</summary>
    public static async Task<OidcIssuer> StartAsync(string directory)
    {
        var (serverCertificate, caPem) = CreateTlsCertificates();
        var caPath = Path.Combine(directory, "issuer-ca.pem");
        await File.WriteAllTextAsync(caPath, caPem);

        var signingKey = RSA.Create(2048);
        var keyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var tenantId = Guid.NewGuid().ToString();

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(serverCertificate)));
        var app = builder.Build();
        OidcIssuer? self = null;
        app.MapGet($"/{tenantId}/v2.0/.well-known/openid-configuration", () => Results.Text(self!.DiscoveryDocument(), "application/json"));
        app.MapGet($"/{tenantId}/discovery/v2.0/keys", () => Results.Text(self!.Jwks(), "application/json"));
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        self = new OidcIssuer(app, signingKey, keyId, tenantId, caPath, new Uri($"https://127.0.0.1:{port}/"));
        return self;
    }

    /// <summary>Signs an access token as this issuer would, then applies the test's deviations.</summary>
    public string IssueToken(TokenRequest request)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object>
        {
            ["tid"] = request.TenantId ?? TenantId,
            ["oid"] = request.ObjectId,
            ["sub"] = request.ObjectId,
            ["preferred_username"] = request.User,
            ["ver"] = "2.0",
        };
        if (request.Roles.Count > 0)
        {
            claims["roles"] = request.Roles.ToArray();
        }

        if (request.Scope is not null)
        {
            claims["scp"] = request.Scope;
        }

        var key = request.SignWith is null
            ? new RsaSecurityKey(_signingKey) { KeyId = _keyId }
            : new RsaSecurityKey(request.SignWith) { KeyId = _keyId };
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = request.Issuer ?? Authority,
            Audience = request.Audience,
            IssuedAt = now + request.Shift,
            NotBefore = now + request.Shift,
            Expires = now + request.Shift + request.Lifetime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _signingKey.Dispose();
    }

    private string DiscoveryDocument() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["issuer"] = Authority,
        ["jwks_uri"] = Authority.Replace("/v2.0", "/discovery/v2.0/keys"),
        ["authorization_endpoint"] = Authority.Replace("/v2.0", "/oauth2/v2.0/authorize"),
        ["token_endpoint"] = Authority.Replace("/v2.0", "/oauth2/v2.0/token"),
        ["response_types_supported"] = new[] { "code", "id_token", "token" },
        ["subject_types_supported"] = new[] { "pairwise" },
        ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
    });

    private string Jwks()
    {
        var p = _signingKey.ExportParameters(includePrivateParameters: false);
        return JsonSerializer.Serialize(new
        {
            keys = new[]
            {
                new Dictionary<string, string>
                {
                    ["kty"] = "RSA",
                    ["use"] = "sig",
                    ["alg"] = "RS256",
                    ["kid"] = _keyId,
                    ["n"] = Base64UrlEncoder.Encode(p.Modulus),
                    ["e"] = Base64UrlEncoder.Encode(p.Exponent),
                },
            },
        });
    }

    /// <summary>A CA and a server certificate for 127.0.0.1/localhost signed by it.</summary>
    private static (X509Certificate2 Server, string CaPem) CreateTlsCertificates()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=GenerateCT test identity CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(12));
        using var withKey = issued.CopyWithPrivateKey(serverKey);

        // Round-trip through PKCS#12 so SslStream gets a certificate with a persisted-style key.
        var server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (server, ca.ExportCertificatePem());
    }
}

/// <summary>What to put in a token; the defaults give a valid token for <see cref="Audience"/>.</summary>
public sealed record TokenRequest(string Audience, IReadOnlyList<string> Roles)
{
    public string User { get; init; } = "alice@hospital.example";

    public string ObjectId { get; init; } = Guid.NewGuid().ToString();

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Moves the token's whole validity window (negative = in the past).</summary>
    public TimeSpan Shift { get; init; } = TimeSpan.Zero;

    /// <summary>Issuer claim; null = the issuer's own.</summary>
    public string? Issuer { get; init; }

    /// <summary>Tenant claim; null = the issuer's tenant.</summary>
    public string? TenantId { get; init; }

    /// <summary>Delegated scopes (scp), space-separated.</summary>
    public string? Scope { get; init; }

    /// <summary>Sign with another key under the issuer's key id (a forged token).</summary>
    public RSA? SignWith { get; init; }
}
