using System.Security.Cryptography;

namespace GenerateCT.Deid.Keys;

/// <summary>
/// The per-site key behind every keyed UID, pseudonym and date shift. It is generated on first use,
/// stored owner-read/write only (mode 0600) and never printed: <see cref="ToString"/> is redacted
/// so that a log line that formats it leaks nothing.
/// </summary>
public sealed class SiteSecret
{
    private const int Length = 32;
    private readonly byte[] _key;

    private SiteSecret(byte[] key) => _key = key;

    /// <summary>A secret held only in memory (tests, offline one-off runs).</summary>
    public static SiteSecret FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length < 16)
            throw new ArgumentException("a site secret needs at least 16 bytes of key material", nameof(key));
        return new SiteSecret(key.ToArray());
    }

    /// <summary>
    /// Reads the secret at <paramref name="path"/>, creating it (32 random bytes, mode 0600) when the
    /// file does not exist. An existing file readable by group or others is refused rather than used.
    /// </summary>
    public static async Task<SiteSecret> LoadOrCreateAsync(string path, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path))
        {
            var key = RandomNumberGenerator.GetBytes(Length);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            try
            {
                await using var fs = new FileStream(path, options);
                await fs.WriteAsync(key, cancellationToken);
                return new SiteSecret(key);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: fall through and read theirs.
            }
        }
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            const UnixFileMode open = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            if ((mode & open) != 0)
                throw new SiteSecretException($"site secret {path} is readable or writable by group/others (mode {Convert.ToString((int)mode, 8)}); run `chmod 600 {path}`");
        }
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        if (bytes.Length < 16)
            throw new SiteSecretException($"site secret {path} holds {bytes.Length} bytes, fewer than 16; delete it to let a new one be generated (this changes every pseudonym)");
        return new SiteSecret(bytes);
    }

    /// <summary>HMAC-SHA256 of <paramref name="purpose"/> and <paramref name="value"/>, domain-separated so a UID and a date-shift key never collide.</summary>
    internal byte[] Mac(string purpose, string value)
    {
        var data = System.Text.Encoding.UTF8.GetBytes(purpose + "\0" + value);
        return HMACSHA256.HashData(_key, data);
    }

    /// <summary>A key derived for one use (HKDF-SHA256, RFC 5869), e.g. the pseudonym table's encryption key.</summary>
    internal byte[] DeriveKey(string purpose, int length) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, length, info: System.Text.Encoding.UTF8.GetBytes(purpose));

    public override string ToString() => "SiteSecret(redacted)";
}
