using System.Security.Cryptography;
using System.Text.Json;

namespace GenerateCT.Deid.Keys;

/// <summary>
/// The optional re-identification table: pseudonymous key → original identifier. A node keeps one
/// only when the hospital enables re-identification (off by default). At rest the whole table is
/// one AES-256-GCM blob (12-byte nonce, 16-byte tag, ciphertext) under a key derived from the site
/// secret, written to a temporary file and renamed so a crash never leaves half a table.
/// </summary>
public sealed class PseudonymTable
{
    private const string KeyPurpose = "pseudonym-table-v1";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "GCTPSN1\0"u8.ToArray();

    private readonly Dictionary<string, PseudonymEntry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly byte[] _key;
    private readonly string _path;

    private PseudonymTable(string path, byte[] key)
    {
        _path = path;
        _key = key;
    }

    /// <summary>Opens the table at <paramref name="path"/> (or an empty one when the file does not exist yet).</summary>
    public static async Task<PseudonymTable> OpenAsync(string path, SiteSecret secret, CancellationToken cancellationToken = default)
    {
        var table = new PseudonymTable(path, secret.DeriveKey(KeyPurpose, 32));
        if (!File.Exists(path))
            return table;
        var blob = await File.ReadAllBytesAsync(path, cancellationToken);
        if (blob.Length < Magic.Length + NonceSize + TagSize || !blob.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new PseudonymTableException($"{path} is not a pseudonym table");
        var nonce = blob.AsSpan(Magic.Length, NonceSize);
        var tag = blob.AsSpan(Magic.Length + NonceSize, TagSize);
        var cipher = blob.AsSpan(Magic.Length + NonceSize + TagSize);
        var plain = new byte[cipher.Length];
        try
        {
            using var gcm = new AesGcm(table._key, TagSize);
            gcm.Decrypt(nonce, cipher, tag, plain, Magic);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new PseudonymTableException($"{path} does not decrypt with this site's secret: it was written by another site or altered");
        }
        foreach (var e in JsonSerializer.Deserialize<List<PseudonymEntry>>(plain) ?? [])
            table._entries[Key(e.Kind, e.Pseudonym)] = e;
        return table;
    }

    /// <summary>Records that <paramref name="pseudonym"/> stands for <paramref name="original"/>.</summary>
    public void Record(string kind, string pseudonym, string original)
    {
        lock (_gate)
            _entries[Key(kind, pseudonym)] = new PseudonymEntry(kind, pseudonym, original);
    }

    /// <summary>The original identifier behind a pseudonym, or null.</summary>
    public string? Reidentify(string kind, string pseudonym)
    {
        lock (_gate)
            return _entries.TryGetValue(Key(kind, pseudonym), out var e) ? e.Original : null;
    }

    public int Count
    {
        get
        {
            lock (_gate)
                return _entries.Count;
        }
    }

    /// <summary>Encrypts and writes the table (temp file, fsync, atomic rename; mode 0600).</summary>
    public async Task SaveAsync(CancellationToken cancellationToken = default)
    {
        byte[] plain;
        lock (_gate)
            plain = JsonSerializer.SerializeToUtf8Bytes(_entries.Values.OrderBy(e => e.Kind).ThenBy(e => e.Pseudonym).ToList());
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var tag = new byte[TagSize];
        var cipher = new byte[plain.Length];
        using (var gcm = new AesGcm(_key, TagSize))
            gcm.Encrypt(nonce, plain, cipher, tag, Magic);
        CryptographicOperations.ZeroMemory(plain);

        var tmp = _path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var fs = new FileStream(tmp, options))
        {
            await fs.WriteAsync(Magic, cancellationToken);
            await fs.WriteAsync(nonce, cancellationToken);
            await fs.WriteAsync(tag, cancellationToken);
            await fs.WriteAsync(cipher, cancellationToken);
            await fs.FlushAsync(cancellationToken);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, _path, overwrite: true);
    }

    private static string Key(string kind, string pseudonym) => kind + "\0" + pseudonym;
}

/// <summary>One row of the pseudonym table.</summary>
public sealed record PseudonymEntry(string Kind, string Pseudonym, string Original);
