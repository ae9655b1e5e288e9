using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Federation.Pki;

/// <summary>
/// A federation revocation list read back and verified: the RFC 5280 §5.1 CertificateList, its
/// signature checked with the CA's key (ecdsa-with-SHA256, as <see cref="FederationCa"/> signs), its
/// issuer the CA's subject. Holds the revoked serial numbers.
/// </summary>
/// <remarks>
/// The BCL writes CRLs (CertificateRevocationListBuilder) but does not verify or list them, so the
/// few fields needed are read with System.Formats.Asn1.
/// </remarks>
public sealed class RevocationList
{
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";

    private readonly HashSet<string> _serials;

    private RevocationList(HashSet<string> serials, BigInteger number, DateTimeOffset thisUpdate)
    {
        _serials = serials;
        Number = number;
        ThisUpdate = thisUpdate;
    }

    /// <summary>The CRL number (increases with every revocation).</summary>
    public BigInteger Number { get; }

    public DateTimeOffset ThisUpdate { get; }

    public int Count => _serials.Count;

    public bool IsRevoked(X509Certificate2 certificate) => _serials.Contains(Convert.ToHexString(certificate.SerialNumberBytes.Span));

    /// <summary>Parses a PEM ("X509 CRL") or DER list and verifies it against <paramref name="ca"/>.</summary>
    public static RevocationList Parse(ReadOnlySpan<byte> pemOrDer, X509Certificate2 ca)
    {
        byte[] der;
        var text = System.Text.Encoding.ASCII.GetString(pemOrDer);
        if (text.Contains("-----BEGIN X509 CRL-----", StringComparison.Ordinal))
        {
            if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "X509 CRL")
            {
                throw new CryptographicException("the file holds no complete PEM block 'X509 CRL'");
            }

            der = Convert.FromBase64String(text[fields.Base64Data]);
        }
        else
        {
            der = pemOrDer.ToArray();
        }

        try
        {
            return ParseDer(der, ca);
        }
        catch (AsnContentException e)
        {
            throw new CryptographicException($"the revocation list is not a DER CertificateList ({e.Message})", e);
        }
    }

    private static RevocationList ParseDer(byte[] der, X509Certificate2 ca)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbsBytes = outer.ReadEncodedValue();
        var algorithm = outer.ReadSequence().ReadObjectIdentifier();
        var signature = outer.ReadBitString(out _);
        if (algorithm != EcdsaWithSha256)
        {
            throw new CryptographicException($"the revocation list is signed with {algorithm}, not ecdsa-with-SHA256 as the federation CA signs");
        }

        using (var key = ca.GetECDsaPublicKey() ?? throw new CryptographicException("the federation CA has no ECDSA key"))
        {
            if (!key.VerifyData(tbsBytes.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
            {
                throw new CryptographicException("the revocation list's signature is not the federation CA's");
            }
        }

        var tbs = new AsnReader(tbsBytes, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger(); // version v2
        }

        tbs.ReadSequence(); // signature algorithm (repeated)
        var issuer = tbs.ReadEncodedValue();
        if (!issuer.Span.SequenceEqual(ca.SubjectName.RawData))
        {
            throw new CryptographicException("the revocation list's issuer is not the federation CA");
        }

        var thisUpdate = ReadTime(tbs);
        if (tbs.HasData && IsTime(tbs.PeekTag()))
        {
            ReadTime(tbs); // nextUpdate: the list is a local file the CA rewrites, not fetched; not enforced
        }

        var serials = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                serials.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
            }
        }

        BigInteger number = 0;
        if (tbs.HasData)
        {
            var extensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
            while (extensions.HasData)
            {
                var extension = extensions.ReadSequence();
                var oid = extension.ReadObjectIdentifier();
                if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                {
                    extension.ReadBoolean();
                }

                var value = extension.ReadOctetString();
                if (oid == "2.5.29.20")
                {
                    number = new AsnReader(value, AsnEncodingRules.DER).ReadInteger();
                }
            }
        }

        return new RevocationList(serials, number, thisUpdate);
    }

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
}
