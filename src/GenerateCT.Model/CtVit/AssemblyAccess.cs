using System.Runtime.CompilerServices;

// The model tests check internal building blocks (attention, quantiser, discriminator) directly.
[assembly: InternalsVisibleTo("GenerateCT.Model.Tests")]
