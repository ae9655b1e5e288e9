using System.Net;

namespace GenerateCT.Dicom.Network;

/// <summary>
/// One allow-list entry "AE@address": a calling AE title ("*" = any) and a source address or CIDR
/// network ("*" or omitted = any). An association is accepted when any rule matches both.
/// </summary>
public sealed record DicomPeerRule(string AeTitle, IPNetwork? Network)
{
    /// <summary>Parses "PACS1@10.0.0.5", "PACS1@10.0.0.0/24", "*@127.0.0.1" or "PACS1".</summary>
    public static DicomPeerRule Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var at = text.LastIndexOf('@');
        var ae = (at < 0 ? text : text[..at]).Trim();
        var address = at < 0 ? "*" : text[(at + 1)..].Trim();
        if (ae.Length is 0 or > 16)
        {
            throw new FormatException($"'{text}': AE title must be 1–16 characters (or *)");
        }

        if (address is "*" or "")
        {
            return new DicomPeerRule(ae, null);
        }

        if (IPNetwork.TryParse(address, out var net))
        {
            return new DicomPeerRule(ae, net);
        }

        if (IPAddress.TryParse(address, out var ip))
        {
            return new DicomPeerRule(ae, new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
        }

        throw new FormatException($"'{text}': '{address}' is not an IP address or CIDR network");
    }

    public bool Matches(string callingAe, IPAddress source)
    {
        if (source.IsIPv4MappedToIPv6)
        {
            source = source.MapToIPv4();
        }

        return (AeTitle == "*" || string.Equals(AeTitle, callingAe, StringComparison.Ordinal))
            && (Network is not { } n || n.Contains(source));
    }

    public override string ToString() => $"{AeTitle}@{Network?.ToString() ?? "*"}";
}
