"""Chart rendering (bars and indicator series to PNG) and the ChartStore interface with its stores."""
