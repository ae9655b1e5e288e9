using System.Runtime.CompilerServices;

// The parity tests drive internal layers (bucket function, per-stage trace) against the fixtures.
[assembly: InternalsVisibleTo("GenerateCT.Model.Tests")]
