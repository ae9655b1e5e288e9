using Google.Protobuf;
using Microsoft.ML.Tokenizers;

namespace GenerateCT.Model.Text;

/// <summary>What to do with a prompt whose tokens (eos included) exceed <see cref="T5Tokenizer.MaxLength"/>.</summary>
public enum OverLengthPolicy
{
    /// <summary>Keep the first MaxLength − 1 pieces and the eos, as HF `truncation=True` does (training).</summary>
    Truncate,

    /// <summary>Throw <see cref="PromptTooLongException"/> (the generation service refuses such prompts).</summary>
    Refuse,
}

/// <summary>
/// T5's SentencePiece tokenizer (google/t5-v1_1-base `spiece.model`) through Microsoft.ML.Tokenizers,
/// with the conventions of HF `T5Tokenizer`: no bos, eos (id 1) appended, pad id 0, and truncation at
/// 256 tokens counting the eos (GenerateCT `t5.py`: `max_length=256, truncation=True`).
/// </summary>
public sealed class T5Tokenizer
{
    public const int PadId = 0;
    public const int EosId = 1;

    /// <summary>GenerateCT's `MAX_LENGTH` for the T5 encoder input, eos included.</summary>
    public const int DefaultMaxLength = 256;

    // sentencepiece_model.proto: ModelProto.trainer_spec = 2; TrainerSpec.bos_id = 41, pad_id = 43.
    private const int TrainerSpecField = 2;
    private const int BosIdField = 41;
    private const int PadIdField = 43;

    private readonly SentencePieceTokenizer _sentencePiece;

    private T5Tokenizer(SentencePieceTokenizer sentencePiece, int maxLength)
    {
        _sentencePiece = sentencePiece;
        MaxLength = maxLength;
    }

    public int MaxLength { get; }

    /// <summary>Loads a SentencePiece model file (`spiece.model`).</summary>
    public static T5Tokenizer FromFile(string spieceModelPath, int maxLength = DefaultMaxLength)
    {
        if (!File.Exists(spieceModelPath))
        {
            throw new FileNotFoundException($"SentencePiece model not found: {spieceModelPath}", spieceModelPath);
        }

        return FromBytes(File.ReadAllBytes(spieceModelPath), maxLength);
    }

    /// <summary>Loads a serialized SentencePiece ModelProto.</summary>
    public static T5Tokenizer FromBytes(byte[] modelProto, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        byte[] patched;
        try
        {
            patched = WithBosIdSetToPadId(modelProto);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException("the SentencePiece model is not a valid ModelProto (is spiece.model truncated?)", e);
        }

        using var stream = new MemoryStream(patched, writable: false);
        try
        {
            var sp = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
            return new T5Tokenizer(sp, maxLength);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or NullReferenceException or IndexOutOfRangeException or ArgumentException or NotSupportedException)
        {
            // The library reports a truncated or foreign model as whatever its constructor trips over.
            throw new InvalidDataException("the SentencePiece model could not be loaded (is spiece.model complete and a unigram model?)", e);
        }
    }

    /// <summary>
    /// Token ids of one prompt: SentencePiece pieces, then eos. The empty prompt gives [eos] as in
    /// T5 (Microsoft.ML.Tokenizers returns nothing at all for empty input, eos included).
    /// </summary>
    public IReadOnlyList<int> Encode(string text, OverLengthPolicy overLength = OverLengthPolicy.Truncate)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = text.Length == 0
            ? []
            : _sentencePiece.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        var total = pieces.Count + 1;
        if (total > MaxLength && overLength == OverLengthPolicy.Refuse)
        {
            throw new PromptTooLongException(total, MaxLength);
        }

        var kept = Math.Min(pieces.Count, MaxLength - 1);
        var ids = new int[kept + 1];
        for (var i = 0; i < kept; i++)
        {
            ids[i] = pieces[i];
        }

        ids[kept] = EosId;
        return ids;
    }

    /// <summary>Number of tokens (eos included) before any truncation, for validating prompts up front.</summary>
    public int CountTokens(string text) =>
        text.Length == 0 ? 1 : _sentencePiece.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false).Count + 1;

    /// <summary>
    /// Microsoft.ML.Tokenizers 2.0.1 indexes the vocabulary with `trainer_spec.bos_id` while building a
    /// unigram model and throws IndexOutOfRangeException when it is −1 (T5 has no bos). Pointing it at
    /// the pad piece (BOS is never emitted: addBeginOfSentence is off) avoids that and leaves encoding
    /// unchanged. The edit works on the protobuf wire format so that every other field stays byte-exact.
    /// </summary>
    private static byte[] WithBosIdSetToPadId(byte[] modelProto)
    {
        var trainerSpec = ByteString.Empty;
        var output = new MemoryStream(modelProto.Length + 16);
        var writer = new CodedOutputStream(output, leaveOpen: true);
        var reader = new CodedInputStream(modelProto);
        uint tag;
        while ((tag = reader.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == TrainerSpecField && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                trainerSpec = reader.ReadBytes();
                continue;
            }

            CopyField(reader, writer, tag);
        }

        writer.WriteTag(TrainerSpecField, WireFormat.WireType.LengthDelimited);
        writer.WriteBytes(PatchTrainerSpec(trainerSpec));
        writer.Flush();
        return output.ToArray();
    }

    private static ByteString PatchTrainerSpec(ByteString trainerSpec)
    {
        var padId = PadId;
        var output = new MemoryStream(trainerSpec.Length + 16);
        var writer = new CodedOutputStream(output, leaveOpen: true);
        var reader = new CodedInputStream(trainerSpec.ToByteArray());
        uint tag;
        while ((tag = reader.ReadTag()) != 0)
        {
            var field = WireFormat.GetTagFieldNumber(tag);
            if (field == BosIdField)
            {
                reader.SkipLastField();
                continue;
            }

            if (field == PadIdField && WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint)
            {
                padId = reader.ReadInt32();
                writer.WriteTag(tag);
                writer.WriteInt32(padId);
                continue;
            }

            CopyField(reader, writer, tag);
        }

        writer.WriteTag(BosIdField, WireFormat.WireType.Varint);
        writer.WriteInt32(Math.Max(padId, 0));
        writer.Flush();
        return ByteString.CopyFrom(output.ToArray());
    }

    private static void CopyField(CodedInputStream reader, CodedOutputStream writer, uint tag)
    {
        writer.WriteTag(tag);
        switch (WireFormat.GetTagWireType(tag))
        {
            case WireFormat.WireType.Varint:
                writer.WriteUInt64(reader.ReadUInt64());
                break;
            case WireFormat.WireType.Fixed64:
                writer.WriteFixed64(reader.ReadFixed64());
                break;
            case WireFormat.WireType.Fixed32:
                writer.WriteFixed32(reader.ReadFixed32());
                break;
            case WireFormat.WireType.LengthDelimited:
                writer.WriteBytes(reader.ReadBytes());
                break;
            default:
                throw new InvalidDataException($"unsupported protobuf wire type in field {WireFormat.GetTagFieldNumber(tag)}");
        }
    }
}
