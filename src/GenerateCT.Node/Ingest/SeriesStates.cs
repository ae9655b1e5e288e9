namespace GenerateCT.Node.Ingest;

/// <summary>States of an ingested series as the database spells them.</summary>
internal static class SeriesStates
{
    /// <summary>Instances are arriving; assembled once idle for <see cref="IngestOptions.SeriesIdleSeconds"/>.</summary>
    public const string Receiving = "receiving";

    /// <summary>Assembled into one or more training volumes.</summary>
    public const string Assembled = "assembled";

    /// <summary>No volume could be made; the series row says why.</summary>
    public const string Rejected = "rejected";
}
