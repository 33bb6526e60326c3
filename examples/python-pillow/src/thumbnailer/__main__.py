from thumbnailer import main

main()
